"""PostgreSQL holding /predict's read (a lock on its table): the probes still answer, /predict answers once
the lock is gone. /predict's read runs on the event loop when the worker serves nothing else
(fastapi_plumbing.loop_reads.on_database_inline_when_idle), bounded there, then in the threadpool."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
from fastapi_plumbing.loop_reads import LOOP_APPLICATION
from sqlalchemy import make_url

from tests.databases import backend
from tests.helpers import DAY0, new_id, transaction

pytestmark = pytest.mark.skipif(backend() != "postgresql", reason="SQLite reads on the event loop, in process")


def test_health_answers_while_a_lock_holds_predict_and_predict_answers_after_it(client, service_database_url):
    client.post("/predict", json=transaction(new_id("cust"), new_id("term"), 20.0, DAY0)).raise_for_status()
    time.sleep(0.2)  # its record written: the next /predict is the worker's only work
    url = make_url(service_database_url).set(drivername="postgresql")
    locker = psycopg2.connect(url.render_as_string(hide_password=False))
    held_s = 2.0
    try:
        locker.cursor().execute("BEGIN; LOCK TABLE transactions IN ACCESS EXCLUSIVE MODE")
        released = threading.Timer(held_s, locker.rollback)
        with ThreadPoolExecutor(2) as pool:
            started = time.perf_counter()
            released.start()
            predicted = pool.submit(client.post, "/predict",
                                    json=transaction(new_id("cust"), new_id("term"), 30.0, DAY0))
            time.sleep(0.3)  # /predict is waiting for the lock
            health_sent = time.perf_counter()
            health = client.get("/health")
            health_s = time.perf_counter() - health_sent
            answer = predicted.result(timeout=30)
            predict_s = time.perf_counter() - started
    finally:
        locker.close()
    assert health.status_code == 200
    assert health_s < held_s / 4, health_s  # not held until the lock goes (the loop's bound is 50 ms)
    assert answer.status_code == 200, answer.text  # the read waited in the threadpool, as before: no error
    assert answer.json()["decision"] in ("APPROVED", "BLOCKED")
    assert predict_s >= held_s * 0.9


def _loop_sessions(url) -> list[tuple[int, str]]:
    """The service's event-loop connections (fastapi_plumbing.loop_reads.LoopConnection): pid, last query."""
    with psycopg2.connect(url) as watcher, watcher.cursor() as cursor:
        cursor.execute("SELECT pid, query FROM pg_stat_activity WHERE datname = current_database() "
                       "AND application_name LIKE %s", ("%" + LOOP_APPLICATION,))
        return cursor.fetchall()


def test_predict_answers_when_the_loop_s_connection_is_killed_and_a_later_one_reads_on_a_fresh_one(
        client, service_database_url):
    url = make_url(service_database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    client.post("/predict", json=transaction(new_id("cust"), new_id("term"), 20.0, DAY0)).raise_for_status()
    ((first, _),) = _loop_sessions(url)  # one per worker (the test service runs one)
    with psycopg2.connect(url) as killer, killer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", (first,))
    time.sleep(0.2)  # the record written: the next /predict is the worker's only work, on the dead session
    answer = client.post("/predict", json=transaction(new_id("cust"), new_id("term"), 30.0, DAY0))
    assert answer.status_code == 200, answer.text  # read again in the threadpool
    deadline = time.monotonic() + 10
    while not (sessions := _loop_sessions(url)) and time.monotonic() < deadline:  # reopened in a thread
        time.sleep(0.05)
    ((second, _),) = sessions
    assert second != first
    time.sleep(0.2)
    client.post("/predict", json=transaction(new_id("cust"), new_id("term"), 40.0, DAY0)).raise_for_status()
    ((_, last_query),) = _loop_sessions(url)
    assert last_query.startswith("EXECUTE fp_")  # /predict's read went through it
