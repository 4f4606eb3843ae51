"""Candidate training: pipelines, folds, search, leakage guards, selection of the best."""
