"""SQLite's WAL checkpoints on a thread of their own, not inside a request's commit.

By default SQLite checkpoints from whichever connection's commit pushes the write-ahead log past 1,000
pages, and with ``synchronous=NORMAL`` a checkpoint is where the fsyncs happen: that one commit takes
milliseconds instead of tens of microseconds. Both services run their SQLite work inline on the event loop
(``on_database``), so every such commit stalled all requests of the process. Measured on this machine,
30,000 one-row commits: mean 170-184 µs with the default, of which ~80 % in the slowest 1 % (4 ms p99), and
76-118 µs with the checkpoints on a thread (docs/performance.md).

``start_checkpoints(engine, path)`` turns off the automatic checkpoint on the engine's connections and runs a
PASSIVE checkpoint (never blocks readers or writers; copies what it can) on its own connection every
``interval`` seconds; sqlite3 releases the GIL while it waits on the disk. The thread stops when the engine is
disposed or garbage-collected.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from pathlib import Path

from sqlalchemy import Engine, event

logger = logging.getLogger("app.database")
INTERVAL_SECONDS = 0.5


def start_checkpoints(engine: Engine, path: str, interval: float = INTERVAL_SECONDS) -> threading.Thread:
    @event.listens_for(engine, "connect")
    def _no_automatic_checkpoint(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

    stopped = threading.Event()
    event.listen(engine, "engine_disposed", lambda _engine: stopped.set())
    alive = weakref.ref(engine, lambda _ref: stopped.set())
    thread = threading.Thread(target=_checkpoint_until, args=(path, interval, stopped, alive),
                              name=f"wal-checkpoints:{path}", daemon=True)
    thread.start()
    return thread


def _checkpoint_until(path: str, interval: float, stopped: threading.Event, alive: weakref.ref) -> None:
    connection = None
    while not stopped.wait(interval) and alive() is not None:
        try:
            if connection is None:
                # mode=rw: never create the file (the services create theirs 0600 before opening them).
                connection = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=rw", uri=True, timeout=0,
                                             isolation_level=None)
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # a missing file or a busy lock: the next tick tries again
            logger.debug("WAL checkpoint of %s skipped: %s", path, exc)
    if connection is not None:
        connection.close()
