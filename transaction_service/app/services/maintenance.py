"""The background loop started in the lifespan: deliver queued labels, rescue abandoned PENDING rows,
purge expired idempotency keys, fold the review queue's moves into its counts. Blocking database work
runs in worker threads; a rescued row is decided by ``decisions.decide``, as a capture is."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.clients.fraud import FraudClient
from app.services.decisions import rescue_abandoned
from app.services.fallback import FallbackPolicy
from app.services.feedback import RetrySchedule, deliver_due
from app.services.idempotency import purge_expired_keys
from app.services.review_queue import fold_queue_changes

logger = logging.getLogger(__name__)


@dataclass
class Maintenance:
    engine: Engine
    sessions: sessionmaker[Session]
    fraud: FraudClient
    policy: FallbackPolicy
    feedback_schedule: RetrySchedule
    rescue_after_seconds: float
    interval_seconds: float

    async def run_once(self) -> None:
        delivered = await asyncio.to_thread(deliver_due, self.sessions, self.fraud, self.feedback_schedule)
        rescued = await rescue_abandoned(self.engine, self.fraud, self.policy, self.rescue_after_seconds)
        purged = await asyncio.to_thread(self._purge)
        # Every round, so a read sums at most one interval's moves on top of the counts.
        await asyncio.to_thread(fold_queue_changes, self.engine)
        if delivered or rescued or purged:
            logger.info("maintenance: %d labels delivered, %d PENDING rescued, %d keys purged",
                        delivered, rescued, purged)

    def _purge(self) -> int:
        with self.sessions() as session:
            return purge_expired_keys(session)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                # One bad round (database blip) must not stop the loop for the life of the process.
                logger.exception("maintenance round failed")
            await asyncio.sleep(self.interval_seconds)
