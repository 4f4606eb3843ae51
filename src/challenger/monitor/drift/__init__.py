"""Drift detection: one interface, two engines (a fast numpy/scipy pass, Evidently)."""
