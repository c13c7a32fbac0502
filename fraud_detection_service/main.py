"""The fraud detection service: FastAPI app, startup (artifacts, database) and middleware."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_plumbing.logging import configure_logging
from fastapi_plumbing.loop_reads import keep_loop_connection
from fastapi_plumbing.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from fastapi_plumbing.pool import PoolSettings, limit_threadpool
from fastapi_plumbing.problems import install_problem_handlers

from app.api.routes import feedback, model, model_admin, model_card, predict, probes
from app.core.config import settings
from app.core.metrics import LATENCY, REQUESTS
from app.core.reload_signal import reload_on_hangup, stop_reloading_on_hangup
from app.db.engine import make_engine
from app.services.model_slots import ModelSlots
from app.services.model_sync import ModelSync
from app.services.recorder import Recorder
from app.services.terminal_totals import fold_every
from ml_model.artifacts import ArtifactError
from ml_model.reasons import ReasonPolicy

logger = logging.getLogger("app")
EXIT_BAD_ARTIFACTS = 3


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    reasons = ReasonPolicy(max_reasons=settings.MAX_REASONS, from_risk=settings.REVIEW_THRESHOLD)
    slots = ModelSlots(app.state, settings.MODEL_DIR, settings.CHALLENGER_MODEL_DIR, reasons=reasons,
                       champion_metadata_sha256=settings.MODEL_METADATA_SHA256)
    # Several workers: a model change in one reaches all. Created before loading: the generation it
    # reads now is the one the folders about to be loaded already reflect.
    sync = ModelSync(settings.WORKERS_SHARED_DIR, slots) if settings.WORKERS_SHARED_DIR is not None else None
    try:
        models = slots.start()
    except ArtifactError as exc:
        logger.critical("refusing to start: model artifacts rejected: %s", exc)
        # Exit here, without the traceback the ASGI server would print for a failed startup: the
        # line above says everything, and an unusable model must never serve.
        os._exit(EXIT_BAD_ARTIFACTS)
    limit_threadpool(PoolSettings.from_environment())  # as many threads as pooled connections
    app.state.db = make_engine(settings.database_url)
    # PostgreSQL: the event loop's own connection for /predict's read on an idle worker (docs/performance.md).
    loop_connection = await keep_loop_connection(app.state.db)
    app.state.recorder = Recorder(app.state.db)
    app.state.model_slots = slots
    risk = models.champion
    logger.info("model %s (%s) loaded from %s (%d features, threshold %.4f); challenger: %s", risk.model_version,
                risk.kind, settings.MODEL_DIR, len(risk.feature_columns), risk.threshold,
                models.challenger.model_version if models.challenger else "none")
    reload_on_hangup(slots)
    background = [asyncio.create_task(fold_every(app.state.db, settings.TERMINAL_FOLD_SECONDS))]
    if sync is not None:
        slots.announce = sync.publish
        background.append(asyncio.create_task(sync.follow(settings.MODEL_SYNC_SECONDS)))
    yield
    for task in background:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    stop_reloading_on_hangup()
    await app.state.recorder.drain()  # the records of answers already sent
    if loop_connection is not None:
        await loop_connection.close()
    app.state.db.dispose()


def create_app() -> FastAPI:
    configure_logging(settings.LOG_FORMAT, settings.LOG_LEVEL)
    app = FastAPI(title="detec_fraude fraud detection service", version="1.0.0", lifespan=lifespan)
    install_problem_handlers(app)
    for router in (predict.router, feedback.router, model.router, model_admin.router, model_card.router,
                   probes.router):
        app.include_router(router)
    # Outermost last: the request id, metrics and the 500 answer cover 413 answers too.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.MAX_BODY_BYTES)
    app.add_middleware(RequestContextMiddleware, requests=REQUESTS, latency=LATENCY)
    return app


app = create_app()
