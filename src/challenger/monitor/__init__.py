"""What happens to a batch: validation (GX), quarantine, labels, drift, performance windows, triggers."""
