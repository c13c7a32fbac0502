"""With several workers, a reload or promotion made in one of them reaches all of them.

The endpoint (or SIGHUP) reaches one worker, which reloads or promotes and then writes a new generation
into ``WORKERS_SHARED_DIR/model-generation`` (a temporary file renamed over it, so a reader sees a whole
one). Every worker looks at that file every ``MODEL_SYNC_SECONDS`` (one ``stat``; it reads the file only
when it was replaced) and, on a generation it has not applied, reloads both folders from disk: the folders
are the truth, so the last change wins whatever order the workers see them in. A promotion carries the
promoted champion's metadata digest, so a worker whose champion is pinned (``MODEL_METADATA_SHA256``)
moves its pin as the promoting worker did (anyone who can write this 0700 folder runs as the service).

Checking on a timer rather than per request keeps the request path free of it (nothing is added to a
/predict); the price is that the other workers follow within ``MODEL_SYNC_SECONDS`` plus their loading
time (~0.3 s), not at once. One worker (``WORKERS_SHARED_DIR`` unset) runs none of this.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import uuid
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from app.services.model_slots import ModelRefused, ModelSlots

logger = logging.getLogger("app.models")
FILE_NAME = "model-generation"


class ModelSync:
    def __init__(self, shared_dir: Path, slots: ModelSlots) -> None:
        self.path = shared_dir / FILE_NAME
        self.slots = slots
        self._lock = threading.Lock()  # publish runs in the threadpool, follow on the event loop
        # What this worker loaded at start is what is on disk now: the current generation is applied.
        self._identity = self._stat()
        self._applied = self._read().get("generation")

    def publish(self, action: str, champion_sha256: str | None = None) -> None:
        """Called by ModelSlots after a reload or promotion it applied (ModelSlots.announce)."""
        generation = uuid.uuid4().hex
        staged = self.path.with_name(f".{FILE_NAME}.{os.getpid()}")
        with self._lock:
            staged.write_text(json.dumps({"generation": generation, "action": action,
                                          "champion_sha256": champion_sha256, "by": os.getpid()}))
            os.replace(staged, self.path)
            self._applied, self._identity = generation, self._stat()

    async def follow(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self._follow_once()
            except Exception:
                # The loop must outlive any one failure: a dead task would leave this worker on its models
                # for good, with nothing said until shutdown.
                logger.exception("worker %d could not follow a model change; it keeps its models", os.getpid())

    async def _follow_once(self) -> None:
        with self._lock:
            identity = self._stat()
            if identity == self._identity:
                return
            self._identity = identity
            news = self._read()
            if news.get("generation") in (None, self._applied):
                return
            self._applied = news["generation"]
        if news.get("action") == "promote" and self.slots.champion_metadata_sha256:
            self.slots.champion_metadata_sha256 = news.get("champion_sha256")
        logger.info("worker %d follows the %s made by worker %s", os.getpid(), news.get("action"), news.get("by"))
        try:
            await run_in_threadpool(self.slots.reload, announce=False)
        except ModelRefused:
            pass  # logged by ModelSlots with the reason; this worker keeps its models

    def _stat(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        return info.st_ino, info.st_mtime_ns

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError:
            logger.error("%s is not a generation (ignored)", self.path)
            return {}
