"""/predict answers before its transaction is recorded (app/services/recorder.py): the service in process,
called at the ASGI level so a test can hold a record's write and see the answer arrive first, on the
suite's database (SQLite, or PostgreSQL with POSTGRES_URL)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.core.config import settings
from app.core.metrics import RECORDS_FAILED
from app.db.engine import make_engine
from app.db.migrations import upgrade_to_head
from app.db.tables import customer_days, terminal_day_changes, terminal_days, transactions
from app.services.predictions import Record, judge, record
from app.services.recorder import Recorder
from app.services.risk_engine import RiskEngine
from app.services.terminal_totals import fold
from main import create_app
from ml_model.profile_store import Transaction
from tests.databases import backend
from tests.helpers import DAY0, new_id, transaction


@pytest.fixture
def service_url(databases, model_dir, tmp_path, monkeypatch) -> str:
    url = databases.create("recorder")
    upgrade_to_head(url)
    for name, value in (("DATABASE_URL", url), ("MODEL_DIR", model_dir), ("DATA_DIR", tmp_path),
                        ("MODEL_METADATA_SHA256", None), ("CHALLENGER_MODEL_DIR", None),
                        ("WORKERS_SHARED_DIR", None)):
        monkeypatch.setattr(settings, name, value)
    return url


@pytest.fixture
def stored(service_url) -> Iterator[Any]:
    engine = make_engine(service_url)

    def answer_of(transaction_id: str) -> str | None:
        with engine.connect() as conn:
            return conn.execute(select(transactions.c.decision).where(
                transactions.c.transaction_id == transaction_id)).scalar_one_or_none()

    answer_of.engine = engine
    yield answer_of
    engine.dispose()


class Call:
    """One request to the app at the ASGI level: ``answered`` is set once the last body byte is sent,
    ``task`` ends when the app's handling ends (for /predict, once its record is written)."""

    def __init__(self, app: Any, path: str, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()),
                             (b"x-internal-token", settings.INTERNAL_TOKEN.encode())],
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}
        self.status, self.body, self.answered = 0, b"", asyncio.Event()
        messages = [{"type": "http.request", "body": raw, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await asyncio.Event().wait()  # the client stays connected
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
            else:
                self.body += message.get("body", b"")
                if not message.get("more_body"):
                    self.answered.set()

        self.task = asyncio.create_task(app(scope, receive, send))

    async def answer(self) -> dict[str, Any]:
        await asyncio.wait_for(self.answered.wait(), 30)
        return json.loads(self.body)


def _hold_writes(app: Any) -> asyncio.Event:
    """Holds every record's write until the returned event is set."""
    recorder, release = app.state.recorder, asyncio.Event()
    submit = recorder.commit.submit

    async def held(item: Record) -> bool:
        await release.wait()
        return await submit(item)

    recorder.commit.submit = held
    return release


def _burst_count(answer: dict[str, Any]) -> float:
    return next(c["value"] for c in answer["contributions"] if c["feature"] == "customer_tx_count_1h")


async def _not_done(task: asyncio.Future, seconds: float = 0.3) -> bool:
    await asyncio.sleep(seconds)
    return not task.done()


def test_the_answer_goes_out_before_the_record_and_a_retry_meanwhile_answers_it(service_url, stored):
    app = create_app()
    tx = transaction(new_id("cust"), new_id("term"), 42.0, DAY0 + timedelta(hours=12))

    async def main() -> None:
        async with app.router.lifespan_context(app):
            release = _hold_writes(app)
            first = Call(app, "/predict", tx)
            answer = await first.answer()
            assert first.status == 200 and answer["decision"] in ("APPROVED", "BLOCKED")
            assert stored(tx["transaction_id"]) is None and await _not_done(first.task)  # answered, not recorded
            retry = Call(app, "/predict", tx)
            assert await retry.answer() == answer and retry.body == first.body  # while pending
            release.set()
            await first.task
            assert stored(tx["transaction_id"]) == answer["decision"]
            again = Call(app, "/predict", tx)  # once recorded: the stored answer, byte for byte
            assert await again.answer() == answer and again.body == first.body
            await again.task

    asyncio.run(main())
    with stored.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(transactions)).scalar_one() == 1
        assert conn.execute(select(customer_days.c.tx_count)).scalar_one() == 1


def test_a_customers_next_capture_and_a_label_see_a_record_still_pending(service_url, stored):
    app = create_app()
    customer, terminal = new_id("cust"), new_id("term")
    txs = [transaction(customer, terminal, 30.0 + i, DAY0 + timedelta(hours=12, minutes=i)) for i in range(3)]

    async def main() -> None:
        async with app.router.lifespan_context(app):
            release = _hold_writes(app)
            first = Call(app, "/predict", txs[0])
            assert _burst_count(await first.answer()) == 0
            # The next capture, sent after the first's answer, waits for its record and counts it.
            second = Call(app, "/predict", txs[1])
            await asyncio.sleep(0.3)
            assert not second.answered.is_set()
            other = Call(app, "/predict", transaction(new_id("cust"), terminal, 12.0, DAY0 + timedelta(hours=12)))
            await other.answer()  # another customer does not wait
            label = Call(app, "/feedback", {"transaction_id": txs[0]["transaction_id"], "is_fraud": False})
            release.set()
            assert _burst_count(await second.answer()) == 1
            assert (await label.answer())["recorded_transaction"] is False and label.status == 200
            third = Call(app, "/predict", txs[2])
            assert _burst_count(await third.answer()) == 2
            await asyncio.gather(first.task, second.task, third.task, other.task, label.task)

    asyncio.run(main())
    with stored.engine.connect() as conn:
        assert conn.execute(select(transactions.c.is_fraud).where(
            transactions.c.transaction_id == txs[0]["transaction_id"])).scalar_one() is False


def test_concurrent_records_commit_together_and_count_each_transaction_once(service_url, stored):
    app = create_app()
    terminals = [new_id("term") for _ in range(3)]
    txs = [transaction(new_id("cust"), terminals[i % 3], 10.0 + i, DAY0 + timedelta(days=i % 2, hours=12))
           for i in range(60)]
    retried = [txs[5], txs[17], txs[17]]  # the same ids again, at the same moment

    async def main() -> int:
        async with app.router.lifespan_context(app):
            calls = [Call(app, "/predict", tx) for tx in [*txs, *retried]]
            answers = [await call.answer() for call in calls]
            await asyncio.gather(*(call.task for call in calls))
            assert answers[60:] == [answers[5], answers[17], answers[17]]
            assert {call.status for call in calls} == {200}
            return app.state.recorder.commit.batches

    commits = asyncio.run(main())
    if backend() == "postgresql":  # the writes run in the threadpool: records queue behind a batch
        assert commits < len(txs)
    fold(stored.engine)
    with stored.engine.connect() as conn:
        rows = conn.execute(select(transactions.c.customer_id, transactions.c.terminal_id, transactions.c.amount,
                                   transactions.c.timestamp)).all()
        by_customer = {(r.customer_id, r.day): (r.tx_count, r.amount_sum) for r in conn.execute(select(customer_days))}
        by_terminal = {(r.terminal_id, r.day): (r.tx_count, r.amount_sum) for r in conn.execute(select(terminal_days))}
        assert conn.execute(select(func.count()).select_from(terminal_day_changes)).scalar_one() == 0
    assert len(rows) == len(txs)
    for key, totals in ((lambda r: r.customer_id, by_customer), (lambda r: r.terminal_id, by_terminal)):
        counts, sums = Counter(), Counter()
        for r in rows:
            counts[key(r), r.timestamp.date()] += 1
            sums[key(r), r.timestamp.date()] += r.amount
        assert {k: v[0] for k, v in totals.items()} == dict(counts)
        assert {k: v[1] for k, v in totals.items()} == pytest.approx(dict(sums))


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_record_that_fails_leaves_the_answer_and_is_logged_and_counted(service_url, stored):
    app = create_app()  # configures logging anew: pytest's caplog handler is gone
    lines = _Lines()
    logging.getLogger("app.recorder").addHandler(lines)
    doomed = transaction(new_id("cust"), new_id("term"), 55.0, DAY0 + timedelta(hours=9))

    def failing(engine, records: list[Record]) -> list[bool]:
        if any(r.tx.transaction_id == doomed["transaction_id"] for r in records):
            raise RuntimeError("disk full")
        return record(engine, records)

    async def main() -> None:
        async with app.router.lifespan_context(app):
            app.state.recorder = Recorder(app.state.db, write=failing)
            failed_before = RECORDS_FAILED._value.get()
            call = Call(app, "/predict", doomed)
            answer = await call.answer()
            await call.task  # no exception escapes
            assert call.status == 200 and answer["transaction_id"] == doomed["transaction_id"]
            assert answer["decision"] in ("APPROVED", "BLOCKED")
            assert RECORDS_FAILED._value.get() == failed_before + 1
            # Nothing of it stays pending: the customer's next capture is answered.
            later = {**doomed, "transaction_id": new_id("tx"), "timestamp": (DAY0 + timedelta(hours=10)).isoformat()}
            nxt = Call(app, "/predict", later)
            await nxt.answer()
            await nxt.task

    try:
        asyncio.run(main())
    finally:
        logging.getLogger("app.recorder").removeHandler(lines)
    assert any(doomed["transaction_id"] in r.getMessage() and r.levelno == logging.ERROR for r in lines.records)
    assert stored(doomed["transaction_id"]) is None


def test_shutdown_waits_for_pending_records(service_url, stored):
    app = create_app()
    txs = [transaction(new_id("cust"), new_id("term"), 20.0, DAY0 + timedelta(hours=15)) for _ in range(3)]

    async def main() -> None:
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        release = _hold_writes(app)
        calls = [Call(app, "/predict", tx) for tx in txs]
        for call in calls:
            await call.answer()
        shutdown = asyncio.create_task(lifespan.__aexit__(None, None, None))
        assert await _not_done(shutdown)
        assert all(stored(tx["transaction_id"]) is None for tx in txs)
        release.set()
        await shutdown
        await asyncio.gather(*(call.task for call in calls))

    asyncio.run(main())
    assert all(stored(tx["transaction_id"]) is not None for tx in txs)


def test_records_of_one_batch_count_only_the_ids_not_recorded_yet(profile_engine, model_dir):
    """``record``'s batch writer (several records: one statement on PostgreSQL) adds to the day totals only
    the rows it inserted."""
    risk = RiskEngine.load(model_dir)
    txs = [Transaction(f"b{i}", f"c{i % 2}", "t0", 10.0 * (i + 1), DAY0 + timedelta(hours=i)) for i in range(4)]
    judged = [judge(profile_engine, risk, tx)[1] for tx in txs]
    assert record(profile_engine, [judged[1]]) == [True]
    assert record(profile_engine, [judged[0], judged[1], judged[2], judged[3], judged[2]]) == [
        True, False, True, True, False]
    fold(profile_engine)
    with profile_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(transactions)).scalar_one() == 4
        days = conn.execute(select(customer_days.c.customer_id, customer_days.c.tx_count, customer_days.c.amount_sum)
                            .order_by(customer_days.c.customer_id)).all()
        terminal = conn.execute(select(terminal_days.c.tx_count, terminal_days.c.amount_sum)).one()
    assert [tuple(d) for d in days] == [("c0", 2, 40.0), ("c1", 2, 60.0)]
    assert tuple(terminal) == (4, 100.0)
