"""GroupCommit: concurrent writes share a transaction, a quiet writer waits for nobody, a bad row fails alone.

Real databases: a SQLite file, and PostgreSQL at POSTGRES_URL (where the writes run in the threadpool, so
later submissions queue while a batch is being written)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, func, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from fastapi_plumbing.group_commit import GroupCommit
from fastapi_plumbing.pool import PoolSettings, postgres_engine
from fastapi_plumbing.tests.test_pool import database_url  # noqa: F401 - the fixture

metadata = MetaData()
rows = Table("rows", metadata, Column("id", Integer, primary_key=True), Column("name", String(20), nullable=False))


def _writer(engine, commits: list[int]):
    def write(items):
        with engine.begin() as conn:
            conn.execute(insert(rows), [{"id": i, "name": name} for i, name in items])
        commits.append(len(items))
        return [i for i, _ in items]

    return write


def _stored(engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(conn.scalars(select(rows.c.id)))


@pytest.fixture
def sqlite(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_writes_submitted_together_commit_together(sqlite):
    commits: list[int] = []
    writer = GroupCommit(sqlite, _writer(sqlite, commits))

    async def main():
        return await asyncio.gather(*(writer.submit((i, f"r{i}")) for i in range(50)))

    assert asyncio.run(main()) == list(range(50))  # each submitter gets its own result
    assert commits == [50]
    assert _stored(sqlite) == list(range(50))


def test_a_quiet_writer_writes_each_submission_at_once(sqlite):
    commits: list[int] = []
    writer = GroupCommit(sqlite, _writer(sqlite, commits))

    async def main():
        for i in range(5):
            assert await writer.submit((i, "x")) == i
            assert _stored(sqlite) == list(range(i + 1))  # committed when submit returns

    asyncio.run(main())
    assert commits == [1] * 5


def test_batches_are_capped(sqlite):
    commits: list[int] = []
    writer = GroupCommit(sqlite, _writer(sqlite, commits), max_batch=20)

    async def main():
        await asyncio.gather(*(writer.submit((i, "x")) for i in range(45)))

    asyncio.run(main())
    assert commits == [20, 20, 5]


def test_a_bad_row_fails_only_its_own_submitter(sqlite):
    commits: list[int] = []
    writer = GroupCommit(sqlite, _writer(sqlite, commits))

    async def main():
        return await asyncio.gather(*(writer.submit((i, None if i == 7 else "x")) for i in range(10)),
                                    return_exceptions=True)

    results = asyncio.run(main())
    assert isinstance(results[7], IntegrityError)
    assert [r for i, r in enumerate(results) if i != 7] == [i for i in range(10) if i != 7]
    assert _stored(sqlite) == [i for i in range(10) if i != 7]  # the batch was rolled back, then each row alone


def test_a_batch_the_database_cannot_take_fails_at_once_without_retries(sqlite):
    calls: list[int] = []

    def unreachable(items):
        calls.append(len(items))
        raise OperationalError("INSERT", {}, ConnectionRefusedError("database down"))

    writer = GroupCommit(sqlite, unreachable)

    async def main():
        return await asyncio.gather(*(writer.submit(i) for i in range(10)), return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(result, OperationalError) for result in results)
    assert calls == [10]  # not ten more tries, each waiting for the database to fail again


def test_drain_waits_for_everything_submitted(sqlite):
    commits: list[int] = []
    writer = GroupCommit(sqlite, _writer(sqlite, commits))

    async def main():
        tasks = [asyncio.create_task(writer.submit((i, "x"))) for i in range(12)]
        await asyncio.sleep(0)  # the submissions are queued, not written
        await writer.drain()
        assert writer.queued == 0
        assert _stored(sqlite) == list(range(12))
        await asyncio.gather(*tasks)

    asyncio.run(main())


def test_on_postgresql_writes_queue_behind_a_batch_being_written(database_url):  # noqa: F811
    engine = postgres_engine(database_url, PoolSettings(size=2, threadpool_size=2))
    metadata.create_all(engine)
    first_started, release = threading.Event(), threading.Event()
    commits: list[int] = []
    write = _writer(engine, commits)

    def slow_first(items):
        if not commits and not first_started.is_set():
            first_started.set()
            release.wait(10)
        return write(items)

    writer = GroupCommit(engine, slow_first)

    async def main():
        first = asyncio.create_task(writer.submit((0, "first")))
        await asyncio.to_thread(first_started.wait, 10)
        later = [asyncio.create_task(writer.submit((i, "later"))) for i in range(1, 31)]
        await asyncio.sleep(0.05)
        release.set()
        return await asyncio.gather(first, *later)

    try:
        assert asyncio.run(main()) == list(range(31))
        assert commits == [1, 30]
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(rows)) == 31
    finally:
        engine.dispose()
