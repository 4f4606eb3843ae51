"""The promotion gate: evidence, the pure decision, the promotion itself, the report.

``evidence`` (both models on one frozen holdout) and ``latency`` (the operational figures of a
model loaded back), ``decide`` (PROMOTE / REJECT / INCONCLUSIVE with reasons) with its hard
checks in ``guardrails`` and its wording of a Δ in ``describe``, ``judge`` (a registered version
against the champion), ``promotion`` (``settle``: the one way the champion moves), ``manual``
(a person's promotion), ``publish`` and ``report`` (the decision on the version and the run).
"""
