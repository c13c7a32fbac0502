"""The benchmark on PostgreSQL: after a bulk seed its tables have what autovacuum would have given them by
then (statistics, a visibility map), so the plans measured are the steady state's; and the server's CPU it
reports is its own databases' and not a neighbour's. Against the server at POSTGRES_URL; skipped without
it, a failure with REQUIRE_POSTGRES=1."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import psycopg2
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from bench.autovacuum import AutovacuumStandIn  # noqa: E402
from bench.databases import PostgresDatabases, vacuum_analyze  # noqa: E402
from bench.processes import postgres_cpu, postgres_cpu_between  # noqa: E402


@pytest.fixture
def database():
    server = os.environ.get("POSTGRES_URL")
    if not server:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("REQUIRE_POSTGRES=1 but POSTGRES_URL is not set")
        pytest.skip("POSTGRES_URL not set")
    databases = PostgresDatabases(server, ["seeded", "neighbour"], prefix="bench_test")
    databases.create()
    yield databases
    databases.drop()


@contextlib.contextmanager
def autocommit_cursor(url: str):
    """A cursor on a connection of its own in autocommit (VACUUM and ANALYZE cannot run in a transaction)."""
    connection = psycopg2.connect(url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


def test_a_seeded_heavy_customers_latest_transaction_is_one_index_row_away(database):
    database = database.urls()["seeded"]
    with autocommit_cursor(database) as cursor:
        cursor.execute("CREATE TABLE history (customer_id text, at timestamp)")
        cursor.execute("CREATE INDEX ON history (customer_id, at)")
        cursor.execute("INSERT INTO history SELECT CASE WHEN i % 100 = 0 THEN 'light' ELSE 'heavy' END, "
                       "timestamp '2026-06-01' + i * interval '1 minute' FROM generate_series(1, 20000) i")
        vacuum_analyze(database)
        # An aggregate over an index range (a customer's newest transaction in 30 days): with statistics
        # PostgreSQL reads it as one row from the end of the index; without (autovacuum off, never
        # analysed) it aggregated every row of the range. Plans of the services' own statements are
        # what this protects.
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) SELECT max(at) FROM history WHERE customer_id = 'heavy' "
                       "AND at >= timestamp '2026-06-01' AND at <= timestamp '2026-07-01'")
        plan = cursor.fetchone()[0][0]["Plan"]

    def rows_read(node: dict) -> int:
        own = node.get("Actual Rows", 0) if "Scan" in node["Node Type"] else 0
        return own + sum(rows_read(child) for child in node.get("Plans", []))

    assert rows_read(plan) == 1


def test_the_servers_cpu_is_this_runs_sessions_and_not_a_neighbours(database):
    ours, neighbour = (psycopg2.connect(database.urls()[name]) for name in ("seeded", "neighbour"))
    burn = "SELECT count(*) FROM generate_series(1, %s)"
    try:
        with ours.cursor() as mine, neighbour.cursor() as theirs:
            mine.execute("SELECT 1")  # both sessions exist before the first reading
            theirs.execute("SELECT 1")
            before = postgres_cpu([database.names["seeded"]])
            theirs.execute(burn, (6_000_000,))  # a neighbour's tests, on another database of the server
            neighbours_only, _ = postgres_cpu_between(before, postgres_cpu([database.names["seeded"]]))
            mine.execute(burn, (6_000_000,))
            with_ours, _ = postgres_cpu_between(before, postgres_cpu([database.names["seeded"]]))
    finally:
        ours.close()
        neighbour.close()
    assert with_ours - neighbours_only > 0.1  # the same query in this run's session counts
    assert neighbours_only < (with_ours - neighbours_only) / 4  # the neighbour's did not


def test_the_autovacuum_stand_in_analyses_what_autovacuum_would_and_nothing_else(database):
    # A seed analysed with two terminals, then thousands of others (what the batch phase adds): with the
    # seed's statistics a generic plan expects half the table per terminal and scans all of it.
    with autocommit_cursor(database.urls()["seeded"]) as cursor:
        cursor.execute("CREATE TABLE days (terminal_id text, day int)")
        cursor.execute("INSERT INTO days SELECT 't' || (i % 2), i FROM generate_series(1, 100) i")
        cursor.execute("ANALYZE days")
        cursor.execute("INSERT INTO days SELECT 'other' || i, i FROM generate_series(1, 5000) i")
        cursor.execute("CREATE TABLE empty (i int)")  # never analysed while empty: planned as 10 pages
        cursor.execute("CREATE TABLE settled AS SELECT i FROM generate_series(1, 10000) i")
        cursor.execute("SELECT pg_stat_force_next_flush()")  # counted before the vacuum, not after it
        cursor.execute("VACUUM ANALYZE settled")
        cursor.execute("INSERT INTO settled SELECT generate_series(1, 20)")  # under the thresholds
        cursor.execute("SELECT pg_stat_force_next_flush()")
        with AutovacuumStandIn(list(database.urls().values())) as stand_in:
            did = stand_in.run_once()
            sessions = database.activity()["sessions"]
            stand_in.run_once()  # on the sessions it keeps: no new ones to count as the services'
            new_sessions = database.activity()["sessions"] - sessions
        cursor.execute("SELECT n_distinct FROM pg_stats WHERE tablename = 'days' AND attname = 'terminal_id'")
        n_distinct = cursor.fetchone()[0]
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'empty'")
        empty_tuples = cursor.fetchone()[0]
    seeded = database.names["seeded"]
    assert did["analyze"] == [f"{seeded}.days"]
    assert did["vacuum"] == [f"{seeded}.days"]  # 5,000 inserted rows: past the insert threshold (1,000)
    assert n_distinct < 0 or n_distinct > 1000  # negative: a fraction of the rows, i.e. most values distinct
    assert empty_tuples == -1
    assert new_sessions == 0


def test_activity_counts_the_rows_sequential_scans_read(database):
    with autocommit_cursor(database.urls()["neighbour"]) as cursor:
        cursor.execute("CREATE TABLE unindexed AS SELECT i FROM generate_series(1, 3000) i")
        before = database.activity()["rows_seq_scanned"]
        cursor.execute("SELECT count(*) FROM unindexed WHERE i = 7")
        cursor.execute("SELECT pg_stat_force_next_flush()")  # PostgreSQL 15 reports a session's counts lazily
        after = database.activity()["rows_seq_scanned"]
    assert after - before == 3000


def test_activity_does_not_count_its_own_sessions(database):
    before = database.activity()
    assert database.activity()["sessions"] == before["sessions"]
