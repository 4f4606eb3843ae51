"""Getting a user's data in: ``challenger init`` and the check of a file against ``data.*``.

* :mod:`~challenger.onboard.columns` — the columns a file has, against the ones the
  configuration declares (checked before any work, naming each key).
* :mod:`~challenger.onboard.profile` — what a table holds: the task its target implies, the
  kind of every column, the ranges and sizes a configuration is drawn from.
* :mod:`~challenger.onboard.propose` — a configuration fitted to that profile: metric,
  candidates, CV, gate and validation settings sized to the rows available.
* :mod:`~challenger.onboard.write` — the proposal as a commented ``challenger.yaml``.
"""
