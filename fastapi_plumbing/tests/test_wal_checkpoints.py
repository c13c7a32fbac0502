"""SQLite's WAL checkpoints run on their own thread: a commit returns without copying pages into the database."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from fastapi_plumbing.database import sqlite_engine

ROWS, ROW_BYTES = 2_000, 4_000  # ~8 MB of log: past SQLite's 1,000-page automatic checkpoint


def _write_a_lot(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT)"))
        conn.execute(text("INSERT INTO blobs (body) VALUES (:body)"), [{"body": "x" * ROW_BYTES}] * ROWS)


def _eventually(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_commit_leaves_the_checkpoint_to_the_background_thread(tmp_path):
    path = tmp_path / "db.sqlite3"
    engine = sqlite_engine(f"sqlite:///{path}")
    try:
        _write_a_lot(engine)
        # Before: the commit that passed 1,000 pages of log copied them into the database file itself.
        assert path.stat().st_size < ROWS * ROW_BYTES / 4
        assert _eventually(lambda: path.stat().st_size >= ROWS * ROW_BYTES)  # the thread did it
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
            assert conn.execute(text("SELECT count(*) FROM blobs")).scalar() == ROWS
    finally:
        engine.dispose()


def test_the_checkpoint_thread_stops_with_its_engine(tmp_path):
    path = tmp_path / "db.sqlite3"
    engine = sqlite_engine(f"sqlite:///{path}")

    def running() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == f"wal-checkpoints:{path}"]

    assert len(running()) == 1
    engine.dispose()
    assert _eventually(lambda: not running())


def test_the_checkpoint_thread_never_creates_the_database_file(tmp_path):
    path = tmp_path / "never-opened.sqlite3"
    engine = sqlite_engine(f"sqlite:///{path}")
    try:
        time.sleep(1.2)  # two ticks of the thread
        assert not path.exists()  # the services create their files 0600 before opening them
    finally:
        engine.dispose()
