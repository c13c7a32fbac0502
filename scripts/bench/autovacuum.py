"""Autovacuum's work during a benchmark run, for a PostgreSQL server that runs without it (this machine's
has ``autovacuum = off``; a production server has it on).

A run's tables grow from nothing to tens of thousands of rows in minutes. Without autovacuum their
statistics stay as a seed or an early moment left them, and each session's prepared statements keep the
generic plans made for those: after the fraud history seed (two terminals, analysed) the history read
scanned all of ``terminal_days`` at every capture, and analysed while empty the tables were planned as one
page long and scanned at every read as they filled (docs/performance.md). So while a run goes, this does
what autovacuum would: every ``NAPTIME_S`` (``autovacuum_naptime``'s default), in each of the run's
databases, ANALYZE the tables changed past autovacuum's analyze threshold and VACUUM those past its vacuum
thresholds (dead rows, inserted rows), with the server's own ``autovacuum_*`` settings. Its work is on the
run's databases, so the server CPU the benchmark reports includes it, as it would include autovacuum's.
"""

from __future__ import annotations

import logging
import threading

import psycopg2
from psycopg2 import sql

from bench.databases import fetch_one

logger = logging.getLogger(__name__)

# Which tables autovacuum would analyse or vacuum now (its thresholds; reltuples is -1 before the first
# analyse, which autovacuum counts as 0).
_DUE = """
SELECT s.relname,
       s.n_mod_since_analyze > current_setting('autovacuum_analyze_threshold')::float8
           + current_setting('autovacuum_analyze_scale_factor')::float8 * greatest(c.reltuples, 0),
       s.n_dead_tup > current_setting('autovacuum_vacuum_threshold')::float8
           + current_setting('autovacuum_vacuum_scale_factor')::float8 * greatest(c.reltuples, 0)
       OR s.n_ins_since_vacuum > current_setting('autovacuum_vacuum_insert_threshold')::float8
           + current_setting('autovacuum_vacuum_insert_scale_factor')::float8 * greatest(c.reltuples, 0)
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
ORDER BY s.relname
"""


def server_autovacuums(server_url: str) -> bool:
    return fetch_one(server_url, "SHOW autovacuum")[0] == "on"


class AutovacuumStandIn:
    """A thread doing one autovacuum pass over ``urls`` every ``naptime_s`` from ``start`` to ``stop`` (or
    in a ``with`` block)."""
    NAPTIME_S = 60.0

    def __init__(self, urls: list[str], naptime_s: float = NAPTIME_S) -> None:
        self.urls, self.naptime_s = urls, naptime_s
        self.done = {"analyze": 0, "vacuum": 0}
        self._stop = threading.Event()
        # One session per database, kept: a pass opening its own would count as the services' new sessions.
        self._connections: dict[str, psycopg2.extensions.connection] = {}
        self._thread = threading.Thread(target=self._run, name="autovacuum-stand-in", daemon=True)

    def start(self) -> AutovacuumStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Waits for a pass under way, then closes the sessions (before the databases are dropped)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def __enter__(self) -> AutovacuumStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.naptime_s):
            try:
                self.run_once()
            except psycopg2.Error as exc:  # a pass that fails (a database dropped at the end) waits for the next
                logger.warning("autovacuum stand-in: %s", exc)

    def run_once(self) -> dict[str, list[str]]:
        """One pass: the tables analysed and vacuumed, by name (``database.table``)."""
        did: dict[str, list[str]] = {"analyze": [], "vacuum": []}
        for url in self.urls:
            connection = self._connections.get(url)
            if connection is None:
                connection = self._connections[url] = psycopg2.connect(url)
                connection.autocommit = True  # VACUUM cannot run inside a transaction
            try:
                self._pass_over(connection, did)
            except psycopg2.Error:
                self._connections.pop(url).close()
                raise
        return did

    def _pass_over(self, connection: psycopg2.extensions.connection, did: dict[str, list[str]]) -> None:
        with connection.cursor() as cursor:
            cursor.execute(_DUE)
            for table, analyze, vacuum in cursor.fetchall():
                if not (analyze or vacuum):
                    continue
                command = "ANALYZE {}" if not vacuum else "VACUUM (ANALYZE) {}" if analyze else "VACUUM {}"
                cursor.execute(sql.SQL(command).format(sql.Identifier(table)))
                for kind in [kind for kind, due in (("analyze", analyze), ("vacuum", vacuum)) if due]:
                    did[kind].append(f"{connection.info.dbname}.{table}")
                    self.done[kind] += 1
