"""Dynamic batching of the scoring calls to the fraud service (the ML-serving pattern of Triton, TF Serving).

Most of the fraud service's cost per capture is the HTTP request around the scoring, and its /predict/batch
answers each row as /predict would (a later row sees the earlier ones in its customer's history) at a
fraction of the cost per row. So at most ``in_flight`` scoring calls are out at once per process: a
transaction submitted while a slot is free goes out at once, alone, through /predict - nothing ever waits on
purpose, so a quiet service keeps today's latency and path - and those submitted while every slot is busy
queue; when a slot frees, everything queued (up to ``max_batch``) goes out as one /predict/batch call,
once at least ``min_batch`` are queued; a shorter queue sends its oldest alone. The fraud service scores a
short batch row by row through /predict's own statements in one transaction, so a batch of 2 already saves
a request's cost on both sides (docs/performance.md: the batch path once had a fixed cost of ~3.5 ms, when a
minimum of 8 paid).
fastapi_plumbing/group_commit.py does the same for the database writes.

A call's policy (timeouts, deadline, retry, breaker, answer checks) is FraudClient's, for a batch as for one
transaction. A batch call that fails fails each of its transactions with that reason (each takes the
fallback, as after a failed single call); a batch the service refuses with a 4xx (one row it cannot score,
e.g. 409 recorded_without_decision, refuses the whole batch) is sent again one transaction at a time, so only
the offending one is affected. A queued transaction waits at most for a call ahead of it, then its own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from app.clients.fraud import FraudClient, FraudDecision, FraudRequestRefused, FraudServiceUnavailable
from fastapi_plumbing.logging import request_id

logger = logging.getLogger(__name__)
# Refusals about the caller rather than a row: sending each transaction alone would be refused the same way.
_CALLER_REFUSED = (401, 403)


class FraudPredictor(Protocol):
    """What deciding a transaction needs: FraudClient itself (one call each) or FraudBatches."""

    async def apredict(self, payload: dict[str, Any]) -> FraudDecision: ...


class _Queued:
    __slots__ = ("payload", "future", "request_id")

    def __init__(self, payload: dict[str, Any], future: asyncio.Future[FraudDecision]) -> None:
        self.payload = payload
        self.future = future
        self.request_id = request_id.get()


class FraudBatches:
    """Made in the lifespan on the running loop, in front of the process's FraudClient; ``drain`` at
    shutdown, before the client is closed."""

    def __init__(self, client: FraudClient, *, in_flight: int = 1, max_batch: int = 50, min_batch: int = 2) -> None:
        self._client = client
        self._free = in_flight
        self._max_batch = max_batch
        self._min_batch = max(2, min_batch)
        self._queue: list[_Queued] = []
        self._senders: set[asyncio.Task[None]] = set()
        self.calls = 0  # scoring calls made, and the transactions they carried (read by tests)
        self.transactions = 0

    async def apredict(self, payload: dict[str, Any]) -> FraudDecision:
        """The model's decision on ``payload``, or FraudServiceUnavailable (as FraudClient.apredict)."""
        if self._free > 0:
            self._free -= 1
            try:
                return await self._one(payload)  # in the caller's own task: its request id, its cancellation
            finally:
                self._slot_freed()
        queued = _Queued(payload, asyncio.get_running_loop().create_future())
        self._queue.append(queued)
        return await queued.future  # a cancelled caller cancels only its wait

    async def drain(self) -> None:
        """Wait until every queued transaction has its answer (the lifespan's shutdown)."""
        while self._senders:
            await asyncio.gather(*self._senders, return_exceptions=True)

    async def _one(self, payload: dict[str, Any]) -> FraudDecision:
        self.calls += 1
        self.transactions += 1
        return await self._client.apredict(payload)

    def _slot_freed(self) -> None:
        """A call ended: the slot goes to what queued meanwhile, or becomes free."""
        # Callers that gave up (cancelled) are not sent.
        self._queue = [queued for queued in self._queue if not queued.future.done()]
        if not self._queue:
            self._free += 1
            return
        size = self._max_batch if len(self._queue) >= self._min_batch else 1
        batch, self._queue = self._queue[:size], self._queue[size:]
        sender = asyncio.create_task(self._send(batch))  # holds the slot until it ends
        self._senders.add(sender)
        sender.add_done_callback(self._senders.discard)

    async def _send(self, batch: list[_Queued]) -> None:
        # The task runs in a copy of the context of the call that freed the slot: its request id is not ours.
        request_id.set(batch[0].request_id if len(batch) == 1 else "-")
        try:
            await self._score(batch)
        except BaseException as exc:  # a bug or a cancelled task must not leave captures waiting for ever
            error = exc if isinstance(exc, Exception) else FraudServiceUnavailable("shutting down")
            for queued in batch:
                _settle(queued.future, exception=error)
            raise
        finally:
            self._slot_freed()

    async def _score(self, batch: list[_Queued]) -> None:
        if len(batch) == 1:
            await self._score_alone(batch[0])
            return
        self.calls += 1
        self.transactions += len(batch)
        try:
            answers = await self._client.apredict_batch([queued.payload for queued in batch])
        except FraudRequestRefused as exc:
            if exc.status in _CALLER_REFUSED:
                for queued in batch:
                    _settle(queued.future, exception=exc)
                return
            # In order, one at a time: a later transaction of a customer still sees the earlier ones.
            logger.warning("fraud service refused a batch of %d (%s); sending each alone", len(batch), exc.reason)
            for queued in batch:
                await self._score_alone(queued)
            return
        except FraudServiceUnavailable as exc:
            for queued in batch:
                _settle(queued.future, exception=exc)
            return
        for queued, answer in zip(batch, answers, strict=True):
            if isinstance(answer, FraudDecision):
                _settle(queued.future, result=answer)
            else:
                _settle(queued.future, exception=answer)

    async def _score_alone(self, queued: _Queued) -> None:
        try:
            _settle(queued.future, result=await self._one(queued.payload))
        except FraudServiceUnavailable as exc:
            _settle(queued.future, exception=exc)


def _settle(future: asyncio.Future[FraudDecision], *, result: FraudDecision | None = None,
            exception: BaseException | None = None) -> None:
    if future.done():  # its caller gave up
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)
