"""/health, /ready (the model is loaded and verified, the database answers) and /metrics, as the
transaction service answers them."""

from __future__ import annotations

from fastapi import Request
from fastapi_plumbing.database import database_answers
from fastapi_plumbing.probes import probes_router

from app.services.drift import DRIFT_METRICS


def _model(request: Request) -> bool:
    return getattr(request.app.state, "risk_engine", None) is not None


def _database(request: Request) -> bool:
    db = getattr(request.app.state, "db", None)
    return db is not None and database_answers(db)


# Drift is computed over the answering worker's own window of predictions (app/services/drift.py).
router = probes_router({"model": (_model, "not loaded"), "database": (_database, "unreachable")},
                       per_process_metrics=[DRIFT_METRICS])
