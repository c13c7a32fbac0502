"""Fresh PostgreSQL databases for one benchmark run (``--postgres URL``) or one standing check
(tests/standing), dropped afterwards."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class PostgresDatabases:
    def __init__(self, server_url: str, services: list[str], prefix: str = "bench") -> None:
        self.server_url = server_url
        prefix = f"{prefix}_{secrets.token_hex(3)}"
        self.names = {service: f"{prefix}_{service}" for service in services}
        self._own_sessions = 0  # opened by ``activity`` on these databases: not the services'

    def urls(self) -> dict[str, str]:
        return {service: _with_database(self.server_url, name) for service, name in self.names.items()}

    def _run(self, template: str) -> None:
        connection = psycopg2.connect(self.server_url)
        connection.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
        try:
            with connection.cursor() as cursor:
                for name in self.names.values():
                    cursor.execute(sql.SQL(template).format(sql.Identifier(name)))
        finally:
            connection.close()

    def create(self) -> None:
        self._run("CREATE DATABASE {}")

    def drop(self) -> None:
        self._run("DROP DATABASE IF EXISTS {} WITH (FORCE)")

    def terminate_backends(self) -> int:
        """pg_terminate_backend on every connection to these databases (what a failover or an
        administrator's kill does to the services' pools); returns how many were terminated."""
        connection = psycopg2.connect(self.server_url)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE datname = ANY(%s) AND pid <> pg_backend_pid()", (list(self.names.values()),))
                return int(cursor.fetchone()[0])
        finally:
            connection.close()

    def activity(self) -> dict[str, int]:
        """Counters of this run's databases, summed: sessions opened (PostgreSQL 14+), commits, and rows
        read by sequential scans (a plan that stopped using an index shows here first)."""
        sessions, commits = fetch_one(
            self.server_url, "SELECT coalesce(sum(sessions), 0), coalesce(sum(xact_commit), 0) FROM pg_stat_database "
            "WHERE datname = ANY(%s)", (list(self.names.values()),))
        sessions -= self._own_sessions
        scanned = 0
        for url in self.urls().values():  # table statistics are per database
            self._own_sessions += 1
            scanned += int(fetch_one(url, "SELECT coalesce(sum(seq_tup_read), 0) FROM pg_stat_user_tables")[0])
        return {"sessions": int(sessions), "commits": int(commits), "rows_seq_scanned": scanned}


def fetch_one(url: str, query: str, params: tuple = ()) -> tuple:
    """One row of ``query`` on a connection of its own."""
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchone()
    finally:
        connection.close()

def vacuum_analyze(url: str) -> None:
    """After a bulk seed, what autovacuum does within a minute of one: statistics for the planner and a
    visibility map for index-only scans. Without them the plans measured are not the steady state's (this
    machine's server runs with autovacuum off, and seeded tables were then never analysed: PostgreSQL read a
    heavy customer's whole 30-day index range for a max() that is one row once the table has statistics).
    Nothing to do on SQLite."""
    if not url.startswith("postgresql"):
        return
    connection = psycopg2.connect(url)
    connection.autocommit = True  # VACUUM cannot run inside a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    finally:
        connection.close()
