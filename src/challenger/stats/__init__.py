"""Paired statistics: the bootstrap the gate decides on, cross-checks, sequential tests, power."""
