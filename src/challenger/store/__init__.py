"""Where things are kept: the MLflow registry and tracking, the typed version record, the batch store."""
