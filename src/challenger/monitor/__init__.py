"""What happens to a batch: validation (GX), quarantine, labels, drift and its alarms,
performance windows, the change detector on the champion's errors, triggers."""
