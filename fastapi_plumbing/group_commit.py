"""Group commit: writes that concurrent requests submit at about the same time, run and committed together.

A commit costs the database the same whether it carries one row or fifty (a WAL record and, on PostgreSQL,
a round trip and a flush), so under load the writes that queue while one batch is being written go out as
the next batch: one transaction, one commit, the statements of each kind executed once for all rows. Nothing
ever waits on purpose: a write submitted to an idle writer starts at once, alone, so a quiet service pays
no latency for the batching, and a busy one pays at most the batch ahead of it.

``GroupCommit(engine, write)``: ``write(items)`` is plain synchronous code that writes a list of items in one
transaction of its own and returns one result per item, in order. It runs where ``on_database`` runs short
database work (inline on SQLite, in the threadpool on PostgreSQL), one batch at a time per process.
When a batch of several items fails on its data (PEP 249's ``IntegrityError`` or ``DataError``, from the
driver or wrapped by SQLAlchemy), each item is written again on its own, so one bad row only fails its own
submitter. Any other failure (the database unreachable, a timeout) fails the whole batch at once: retrying
item by item would make each submitter wait for every earlier retry to fail the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy import Engine

from fastapi_plumbing.database import on_database

Item = TypeVar("Item")
Result = TypeVar("Result")
logger = logging.getLogger("app.group_commit")


class GroupCommit(Generic[Item, Result]):
    def __init__(self, engine: Engine, write: Callable[[Sequence[Item]], Sequence[Result]], *,
                 max_batch: int = 200) -> None:
        self._engine = engine
        self._write = write
        self._max_batch = max_batch
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0  # batches written, and the items they carried (read by tests)
        self.items = 0

    async def submit(self, item: Item) -> Result:
        """Write ``item`` with whatever else is queued; returns its result once committed, or raises what
        writing it raised."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_queued())
        return await future  # a cancelled submitter cancels only its wait: its item is still written

    async def drain(self) -> None:
        """Wait until everything submitted so far is written (the lifespan's shutdown)."""
        while self._writer is not None:
            await asyncio.shield(self._writer)

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def _write_queued(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:self._max_batch], self._queue[self._max_batch:]
                await self._write_batch(batch)
        finally:
            self._writer = None

    async def _write_batch(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        items = [item for item, _ in batch]
        try:
            results = await on_database(self._engine, self._write, items)
        except Exception as exc:  # noqa: BLE001 - handed to the submitters, who decide
            if len(batch) == 1 or not _about_the_data(exc):
                for _, future in batch:
                    _settle(future, exception=exc)
                return
            logger.warning("a batch of %d writes failed (%s); writing each on its own", len(batch), exc)
            for one in batch:
                await self._write_batch([one])
            return
        self.batches += 1
        self.items += len(batch)
        if len(results) != len(batch):  # not an assert: it must hold with -O too
            error = RuntimeError(f"write returned {len(results)} results for {len(batch)} items")
            for _, future in batch:
                _settle(future, exception=error)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)


def _about_the_data(exc: Exception) -> bool:
    """PEP 249's errors for a row the database refuses; by name, as each driver defines its own classes."""
    return any(kind.__name__ in ("IntegrityError", "DataError") for kind in type(exc).__mro__)


def _settle(future: asyncio.Future, *, result: object = None, exception: BaseException | None = None) -> None:
    if future.done():  # its submitter's loop is closing
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)
