"""Serving: the request path between user requests and the models.

``app`` (the FastAPI app: endpoints bound to their paths, middleware, background steps),
``routes`` (request bodies and what each endpoint does), ``runtime`` (what the app holds:
models, flags, rollout state, log writer, shadow worker), ``guard`` (the canary guard),
``router`` (shadow, A/B, canary and flags routing), ``flags`` (the flags file), ``models``
(loading and swapping registered models, input validation, scoring; a request's rows through
``challenger.train.rows``), ``shadow_worker`` (the
shadow worker process), ``verdict_routes`` (the rollout verdict for Argo Rollouts and
Flagger), ``prometheus`` (the metrics) and ``server`` (uvicorn). Kept
import-light: the shadow worker process imports this package.
"""
