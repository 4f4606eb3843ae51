"""Online comparison: the serving app, the prediction log, rollout state, the judges and the review."""
