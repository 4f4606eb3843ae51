"""Serving: the routing layer between user requests and the models.

``challenger.serving.app`` (FastAPI app and runtime), ``router`` (shadow, A/B, canary and
flags routing), ``flags`` (the flags file), ``models`` (loading and swapping registered
models, input validation), ``shadow`` (the shadow worker process), ``log`` (the SQLite
prediction log) and ``server`` (uvicorn). Kept import-light: the shadow worker process
imports this package.
"""
