"""Online comparison: the champion and a challenger on live traffic.

``serve/`` (the request path: the FastAPI app, routing, models, flags, the shadow worker),
``log``, ``log_writer`` and ``log_sql`` (the SQLite prediction log, its background writer
and the SQL both write with),
``rollout`` (the A/B or canary state and its transitions), ``decision`` (what a judge
decides), ``judges/`` (shadow, A/B, canary) and ``review`` (from the log to a decision
carried out and recorded; the online-analysis flow sequences it), ``act`` (carrying it out),
``verdict`` (the review's decision as pass / fail / inconclusive for Argo Rollouts and
Flagger), ``plan`` (planning an A/B test) and ``batch_shadow`` (champion and shadows on a
batch file).
"""
