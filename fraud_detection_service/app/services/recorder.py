"""/predict's records, written after the answer has gone out and committed together.

Recording a transaction (its row, its customer's day total, its terminal's day change, the commit) was
~0.4 ms of each /predict's latency, and under load one commit and its statements per capture. So /predict
answers first, and the record goes to this process's ``GroupCommit``: the records submitted while a batch is
being written are written as the next batch, one transaction and one commit (app/services/predictions.py
``record``). Until its commit a record is *pending*, and this process keeps what the database would show:

- ``answer_of(id)``: the answer of a pending id, so a retry answers the first answer without reading;
- ``written_for(customer)``: waits for the customer's pending records, so a capture sent after the
  previous one's answer sees it in its history, as it did when the answer waited for the commit;
- ``written()``: waits for every record pending now (/feedback, /predict/batch, the comparison: they read
  or update recorded transactions, and are rare).

Terminals need no wait: a terminal's windows end ``label_delay_days`` before the transaction's day
(ml_model/features.py), long before any capture still pending. Across worker processes a record is
visible once its batch commits, a few milliseconds after the answer: a capture answered by one worker and
the customer's next capture answered by another within that gap do not see each other, and a retry
arriving at another worker within it is judged again on the same history (its record then finds the id
recorded and adds nothing: logged). A record that fails is logged with its transaction id and counted
(``fraud_records_failed_total``); the answer stands (the transaction service stores the decision itself).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from functools import partial

from fastapi_plumbing.group_commit import GroupCommit
from sqlalchemy import Engine
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.core.metrics import RECORDS_FAILED
from app.services.predictions import Record, record
from app.services.risk_engine import Verdict

logger = logging.getLogger("app.recorder")


class Recorder:
    def __init__(self, engine: Engine, write: Callable[[Engine, list[Record]], Sequence[bool]] = record) -> None:
        self.commit: GroupCommit[Record, bool] = GroupCommit(engine, partial(write, engine))
        self._answers: dict[str, Record] = {}  # pending, by transaction id
        self._customers: dict[str, list[asyncio.Future[None]]] = {}  # each pending record's "written"
        self._done: dict[Record, asyncio.Future[None]] = {}
        self._writing: set[asyncio.Task[None]] = set()

    def answer_of(self, transaction_id: str) -> Verdict | None:
        pending = self._answers.get(transaction_id)
        return None if pending is None else pending.verdict

    async def written_for(self, customer_id: str) -> None:
        pending = self._customers.get(customer_id)
        if pending:
            await asyncio.wait(list(pending))

    async def written(self) -> None:
        """Until every record pending now is written (or failed); later ones are not waited for."""
        if self._done:
            await asyncio.wait(list(self._done.values()))

    def hold(self, scored: Record) -> Record:
        """Registers ``scored`` as pending (before its answer is sent); returns the record whose answer to
        give: ``scored``, or the one already pending for its id (a concurrent request for the same id in
        this process was judged first). Every record held must be passed to ``write_soon``."""
        first = self._answers.setdefault(scored.tx.transaction_id, scored)
        if first is scored:
            done = asyncio.get_running_loop().create_future()
            self._done[scored] = done
            self._customers.setdefault(scored.tx.customer_id, []).append(done)
        return first

    def write_soon(self, scored: Record) -> asyncio.Task[None]:
        """Starts writing a held record; the task never raises, and outlives a cancelled caller."""
        task = asyncio.create_task(self._write(scored))
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)
        return task

    async def drain(self) -> None:
        """Until nothing is pending (the lifespan's shutdown, once no request is left)."""
        while self._writing:
            await asyncio.wait(list(self._writing))
        await self.commit.drain()

    async def _write(self, scored: Record) -> None:
        transaction_id = scored.tx.transaction_id
        try:
            if not await self.commit.submit(scored):
                logger.warning("transaction %s was recorded meanwhile by another worker; its answer there was "
                               "given on the same history, and this one's record adds nothing", transaction_id)
        except Exception:  # noqa: BLE001 - the answer has gone out; the record's failure must not escape
            RECORDS_FAILED.inc()
            logger.exception("recording transaction %s failed after its answer was sent", transaction_id)
        finally:
            self._release(scored)

    def _release(self, scored: Record) -> None:
        if self._answers.get(scored.tx.transaction_id) is scored:
            del self._answers[scored.tx.transaction_id]
        done = self._done.pop(scored, None)
        if done is None:
            return
        pending = self._customers[scored.tx.customer_id]
        pending.remove(done)
        if not pending:
            del self._customers[scored.tx.customer_id]
        done.set_result(None)


class AnswerThenRecord(Response):
    """The answer, then its record: the record is written after the last byte is sent (so the answer does
    not wait for it), and also when sending failed (a client gone), since its pending state holds the
    customer's next reads. The request's task then waits for the write, so the server's graceful shutdown,
    and a test client, see it finished."""

    media_type = "application/json"

    def __init__(self, content: bytes, recorder: Recorder, scored: Record) -> None:
        super().__init__(content)
        self._recorder, self._scored = recorder, scored

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            writing = self._recorder.write_soon(self._scored)
        await asyncio.shield(writing)
