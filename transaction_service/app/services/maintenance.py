"""The background loop started in the lifespan: deliver queued labels, rescue abandoned PENDING rows,
purge expired idempotency keys. Each round runs in a worker thread (the database calls block)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from app.clients.fraud import FraudClient
from app.services.fallback import FallbackPolicy
from app.services.feedback import RetrySchedule, deliver_due
from app.services.idempotency import purge_expired_keys
from app.services.scoring import rescue_abandoned

logger = logging.getLogger(__name__)


@dataclass
class Maintenance:
    sessions: sessionmaker[Session]
    fraud: FraudClient
    policy: FallbackPolicy
    feedback_schedule: RetrySchedule
    rescue_after_seconds: float
    interval_seconds: float

    def run_once(self) -> None:
        delivered = deliver_due(self.sessions, self.fraud, self.feedback_schedule)
        rescued = rescue_abandoned(self.sessions, self.fraud, self.policy, self.rescue_after_seconds)
        with self.sessions() as session:
            purged = purge_expired_keys(session)
        if delivered or rescued or purged:
            logger.info("maintenance: %d labels delivered, %d PENDING rescued, %d keys purged",
                        delivered, rescued, purged)

    async def run_forever(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:
                # One bad round (database blip) must not stop the loop for the life of the process.
                logger.exception("maintenance round failed")
            await asyncio.sleep(self.interval_seconds)
