"""Captures of different customers never wait for one another in PostgreSQL (issue 17 §5).

Many customers pay at one terminal at the same time, through the real processes with two workers per
service, while another connection samples `pg_locks` of the services' databases as fast as it can: no
lock request may be found waiting, in either service's database. A row every capture updates (a
terminal's per-day totals, the review queue's count of its cell) would make concurrent captures queue on
its row lock and show up here. The one lock left out is the relation extension lock (`locktype =
'extend'`): it is taken for the moment a table's file grows by a page, is tied to no row and no customer,
and any table that receives concurrent inserts takes it. PostgreSQL only (the
`make test-postgres` suite); SQLite has one writer by design (DEPLOYMENT.md).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg2
import pytest
from live import start_live, stop_live

CUSTOMERS = 12
CAPTURES_EACH = 25
TERMINAL = "T-SHARED-01"

pytestmark = pytest.mark.skipif(not os.environ.get("POSTGRES_URL"), reason="PostgreSQL only (POSTGRES_URL)")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    live = start_live(tmp_path_factory.mktemp("locks"), "locks", WORKERS="2",
                      RATE_LIMIT_CAPTURES_PER_MINUTE="0", RATE_LIMIT_LISTINGS_PER_MINUTE="0")
    yield live
    stop_live(live)


class LockSampler(threading.Thread):
    """Queries the lock requests not granted on the given databases until stopped."""

    def __init__(self, databases: list[str]) -> None:
        super().__init__(daemon=True)
        self.databases, self.samples, self.waiting = databases, 0, []
        self._done = threading.Event()

    def run(self) -> None:
        connection = psycopg2.connect(os.environ["POSTGRES_URL"])
        connection.autocommit = True
        cursor = connection.cursor()
        while not self._done.is_set():
            cursor.execute(
                "SELECT l.locktype, l.mode, l.relation::regclass::text, a.datname, a.query FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE NOT l.granted AND l.locktype <> 'extend' AND a.datname = ANY(%s)",
                (self.databases,))
            self.waiting += cursor.fetchall()
            self.samples += 1
        connection.close()

    def stop(self) -> None:
        self._done.set()
        self.join(10)


def test_captures_of_different_customers_at_one_terminal_never_wait_for_a_lock(live):
    tokens = [live.new_customer() for _ in range(CUSTOMERS)]
    sampler = LockSampler(list(live.dbs.names.values()))

    def pay(token: str) -> list[int]:
        statuses = []
        with httpx.Client(base_url=live.transactions, timeout=30,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            for i in range(CAPTURES_EACH):
                answer = client.post("/transactions", json={"amount": f"{10 + i}.50", "currency": "EUR",
                                                            "terminal_id": TERMINAL})
                statuses.append(answer.status_code)
        return statuses

    sampler.start()
    began = time.monotonic()
    try:
        with ThreadPoolExecutor(CUSTOMERS) as customers:
            statuses = [status for result in customers.map(pay, tokens) for status in result]
    finally:
        sampler.stop()
    elapsed = time.monotonic() - began

    assert statuses == [201] * CUSTOMERS * CAPTURES_EACH
    assert sampler.samples > 50, f"only {sampler.samples} samples of pg_locks in {elapsed:.1f} s"
    # The sampler's connection cannot name another database's tables (regclass resolves in its own), and a
    # waiter caught at COMMIT names no table at all: the database and the waiting query say where it was.
    assert sampler.waiting == [], f"lock waits during captures ({sampler.samples} samples): {sampler.waiting[:5]}"
