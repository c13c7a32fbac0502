"""Fault drill over the real processes (loopback only, bounded in captures and time).

A stream of customer captures, each with its own Idempotency-Key and retried by the client (same key, same
body) until it is answered 201, while a service is killed with SIGKILL and restarted, or while PostgreSQL
terminates every service connection. Afterwards, through the staff API: every key became exactly one
transaction (nothing acknowledged lost, nothing retried duplicated), and none is left PENDING once the
rescue interval has passed. On SQLite by default; on PostgreSQL with POSTGRES_URL (make test-postgres),
where the connection drill runs too.

The drill's stack: per-user rate limits off (one customer streams far faster than a person pays), the
PENDING rescue after 6 s (above the 3 s fraud deadline, so the test does not wait a minute), the circuit
breaker's reset after 1 s (so model decisions resume soon after the fraud service is back).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest
from live import Live, eventually, start_live, stop_live

RESCUE_AFTER = 6.0
WORKERS = 4
STREAM_DEADLINE = 120.0  # seconds a single capture may take, retries included
PACE = 0.05  # seconds each worker waits between captures: at most ~80 a second in all


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    live = start_live(tmp_path_factory.mktemp("drill"), "drill",
                      RATE_LIMIT_CAPTURES_PER_MINUTE="0", RATE_LIMIT_LISTINGS_PER_MINUTE="0",
                      PENDING_RESCUE_AFTER_SECONDS=str(RESCUE_AFTER), MAINTENANCE_INTERVAL_SECONDS="0.5",
                      FRAUD_BREAKER_RESET_SECONDS="1")
    yield live
    stop_live(live)


@dataclass
class CaptureStream:
    """Captures from WORKERS threads until stopped; each key is retried until answered 201."""

    url: str
    token: str
    acks: dict[str, dict] = field(default_factory=dict)  # key -> the 201 body, in acknowledgement order
    in_flight: set[str] = field(default_factory=set)
    retried: set[str] = field(default_factory=set)  # keys whose first try was not answered 201
    outcomes: Counter = field(default_factory=Counter)  # every answer or transport error, by kind
    replayed: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._numbers = itertools.count()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(WORKERS)]
        self.errors: list[str] = []

    def start(self) -> CaptureStream:
        for thread in self._threads:
            thread.start()
        return self

    def wait_for(self, acknowledged: int, timeout: float = 60) -> None:
        eventually(lambda: len(self.acks) >= acknowledged or self.errors, timeout, interval=0.05)
        assert not self.errors, self.errors

    def stop(self) -> None:
        """No new captures; those under way are retried until answered."""
        self._stop.set()
        for thread in self._threads:
            thread.join(STREAM_DEADLINE + 10)
        assert not self.errors, self.errors

    def _work(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10,
                          headers={"Authorization": f"Bearer {self.token}"}) as http:
            while not self._stop.is_set() and not self.errors:
                number = next(self._numbers)
                body = {"amount": f"{10 + number % 40}.{number % 100:02d}", "currency": "EUR",
                        "terminal_id": f"T-DRILL-{number % 5}"}
                try:
                    self._capture(http, f"drill-{uuid.uuid4()}", body)
                except Exception as exc:  # noqa: BLE001 (reported by the test thread)
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(PACE)

    def _capture(self, http: httpx.Client, key: str, body: dict) -> None:
        with self._lock:
            self.in_flight.add(key)
        deadline = time.monotonic() + STREAM_DEADLINE
        while True:
            assert time.monotonic() < deadline, f"{key} not answered within {STREAM_DEADLINE}s"
            try:
                response = http.post("/transactions", json=body, headers={"Idempotency-Key": key})
            except httpx.TransportError as exc:
                self._count(key, type(exc).__name__)
                time.sleep(0.2)
                continue
            if response.status_code == 201:
                answer = response.json()
                assert answer["amount"] == body["amount"], (answer, body)
                with self._lock:
                    self.outcomes["201"] += 1
                    self.replayed += response.headers.get("Idempotent-Replayed") == "true"
                    self.acks[key] = answer
                    self.in_flight.discard(key)
                return
            # 409: the first request with this key is still PENDING (the process that took it died);
            # 5xx: the service lost its database connection or is restarting. Anything else is a bug.
            assert response.status_code == 409 or response.status_code >= 500, response.text
            self._count(key, str(response.status_code))
            time.sleep(float(response.headers.get("Retry-After", "0.2")))

    def _count(self, key: str, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] += 1
            self.retried.add(key)


def stored_for(live: Live, customer_id: str, staff_token: str) -> list[dict]:
    """Every stored transaction of the customer, through the staff listing."""
    rows, page = [], 1
    while True:
        response = httpx.get(f"{live.transactions}/transactions", timeout=30,
                             headers={"Authorization": f"Bearer {staff_token}"},
                             params={"customer_id": customer_id, "page": page, "page_size": 100})
        assert response.status_code == 200, response.text
        rows += response.json()["items"]
        if len(rows) >= response.json()["total"]:
            return rows
        page += 1


def assert_each_key_is_one_decided_transaction(live: Live, stream: CaptureStream) -> list[dict]:
    """Exactly one stored transaction per key, all decided within the rescue interval; returns them in the
    order the client saw them acknowledged."""
    staff_token = live.staff_token()
    acks = list(stream.acks.values())
    (customer_id,) = {ack["customer_id"] for ack in acks}
    ids = [ack["id"] for ack in acks]
    assert len(set(ids)) == len(ids), "two keys were answered with the same transaction"

    def all_decided():
        rows = stored_for(live, customer_id, staff_token)
        return rows if all(row["status"] != "PENDING" for row in rows) else None

    rows = eventually(all_decided, timeout=RESCUE_AFTER + 15)
    by_id = {row["id"]: row for row in rows}
    # No lost transaction, and no retry stored a second one: the customer has exactly the acknowledged rows.
    assert sorted(by_id) == sorted(ids) and len(rows) == len(ids)
    for ack in acks:
        assert by_id[ack["id"]]["amount"] == ack["amount"]
    return [by_id[transaction_id] for transaction_id in ids]


def report(name: str, stream: CaptureStream, **facts) -> None:
    print(f"\n[drill] {name}: {len(stream.acks)} acknowledged, {len(stream.retried)} keys retried, "
          f"{stream.replayed} replayed answers, outcomes {dict(stream.outcomes)}, {facts}")


def test_transaction_service_killed_mid_capture(live: Live):
    stream = CaptureStream(live.transactions, live.new_customer()).start()
    stream.wait_for(10)
    # Hold the fraud service so that every capture under way is stored PENDING and waiting for its
    # decision, then kill the transaction service: the worst moment, deterministically.
    live.pause("fraud", True)
    time.sleep(0.5)
    caught = set(stream.in_flight)
    live.kill("transactions")
    live.pause("fraud", False)
    live.stack.start("transactions")
    stream.wait_for(len(stream.acks) + 15)
    stream.stop()

    rows = assert_each_key_is_one_decided_transaction(live, stream)
    report("transaction service killed", stream, caught_mid_capture=len(caught))
    assert caught and caught <= stream.retried  # the kill really cut captures off
    # Those were stored PENDING before the kill: their retries got 409 until the restarted service's
    # rescue decided them, then the original answer (replayed), never a second transaction.
    assert stream.replayed >= len(caught)
    assert {row["decided_by"] for row in rows} <= {"model", "fallback"}


def test_fraud_service_killed_then_back(live: Live):
    stream = CaptureStream(live.transactions, live.new_customer()).start()
    stream.wait_for(10)
    live.kill("fraud")
    killed_at = len(stream.acks)
    stream.wait_for(killed_at + 10)
    back_at = len(stream.acks)  # all of these were decided while it was dead
    live.stack.start("fraud")
    time.sleep(2)  # the circuit breaker's next probe (reset after 1 s) finds it back
    stream.wait_for(len(stream.acks) + 20)
    stream.stop()

    rows = assert_each_key_is_one_decided_transaction(live, stream)
    decided_by = [row["decided_by"] for row in rows]
    report("fraud service killed", stream, decided_by=dict(Counter(decided_by)))
    # While it was down the fallback decided (policy block), and once it was back the model again.
    during = rows[killed_at + WORKERS:back_at]  # those under way at the kill may have had their answer
    assert during and all(row["decided_by"] == "fallback" and row["status"] == "BLOCKED" for row in during)
    assert all(how == "model" for how in decided_by[-10:]), decided_by[-10:]
    assert decided_by[:killed_at - WORKERS].count("fallback") == 0


def test_every_postgres_connection_terminated_mid_stream(live: Live):
    if live.dbs is None:
        pytest.skip("PostgreSQL drill: set POSTGRES_URL (make test-postgres runs it)")
    processes = {name: process.pid for name, process in live.stack.processes.items()}
    stream = CaptureStream(live.transactions, live.new_customer()).start()
    stream.wait_for(10)
    terminated = 0
    for _ in range(8):  # again and again, so that some land mid-query, not only on idle pooled connections
        terminated += live.dbs.terminate_backends()
        time.sleep(0.25)
    stream.wait_for(len(stream.acks) + 25)
    stream.stop()

    rows = assert_each_key_is_one_decided_transaction(live, stream)
    report("PostgreSQL connections terminated", stream, terminated=terminated,
           decided_by=dict(Counter(row["decided_by"] for row in rows)))
    assert terminated > 0
    # Recovered without a restart: the same processes serve, the model decides again, the auth service
    # logs people in again.
    assert {name: process.pid for name, process in live.stack.processes.items()} == processes
    assert all(process.poll() is None for process in live.stack.processes.values())
    assert all(row["decided_by"] == "model" for row in rows[-10:])
    assert live.new_customer()
