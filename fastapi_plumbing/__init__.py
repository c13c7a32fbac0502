"""Plumbing shared by the two FastAPI services, written once: RFC 9457 problem details, the request
context and body-size middleware, logging, probes, database helpers, the internal-token rule and
settings read from `*_FILE` secrets.

Imported from the repository root like `ml_model` (each service's `app/__init__.py` puts the root on
`sys.path`; both images copy this folder to `/app/fastapi_plumbing`).
"""
