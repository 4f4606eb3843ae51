"""The promotion gate: evidence, the pure decision, the promotion itself, the report."""
