"""Resident memory and CPU time of a service, read from /proc, and the reference app's server.

A service started by ``LocalStack`` leads its own session, so its process group (start.sh's exec'd
server plus any workers it forks) is exactly the service. Linux only, like the rest of the benchmark.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Collection, Iterator
from pathlib import Path

import httpx
from stack import stop_group  # re-exported: the benchmark stops its reference server like a service

SCRIPTS = Path(__file__).resolve().parent.parent
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: str) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # the process ended between listing and reading
        return None
    # The command name (field 2) may contain spaces; everything after its closing parenthesis splits cleanly.
    return raw[raw.rindex(")") + 2:].split()


def _group(pgid: int) -> Iterator[tuple[str, list[str]]]:
    """(pid, /proc stat fields after the name) of each live process of group ``pgid``."""
    for entry in os.listdir("/proc"):
        fields = _stat_fields(entry) if entry.isdigit() else None
        # After the name: state, ppid, pgrp, ... utime is field 14 and stime 15 (1-based), rss field 24.
        if fields is not None and int(fields[2]) == pgid:
            yield entry, fields


def group_stats(pgid: int) -> tuple[int, float]:
    """(resident bytes, CPU seconds user+system) summed over the live processes of group ``pgid``."""
    rss, cpu = 0, 0.0
    for _, fields in _group(pgid):
        cpu += (int(fields[11]) + int(fields[12])) / _TICKS
        rss += int(fields[21]) * _PAGE
    return rss, cpu


# /proc/<pid>/status lines of resident memory by kind, in kB.
_MEMORY_KINDS = {"RssAnon": "anon", "RssFile": "file", "RssShmem": "shmem"}


def group_memory(pgid: int) -> dict[str, int]:
    """Resident bytes of group ``pgid`` by kind, summed over its live processes: ``anon`` is the processes'
    own memory (heap, Python objects, SQLite's page cache), ``file`` the resident pages of mapped files -
    the interpreter's libraries and the SQLite database read through ``mmap_size``, which the kernel's page
    cache holds and can reclaim - and ``rss`` all of it (anon + file + shmem, as ``group_stats``)."""
    kinds = {"anon": 0, "file": 0, "shmem": 0}
    for entry, _ in _group(pgid):
        try:
            lines = Path(f"/proc/{entry}/status").read_text().splitlines()
        except OSError:  # the process ended between listing and reading
            continue
        for line in lines:
            name, _, rest = line.partition(":")
            if name in _MEMORY_KINDS:
                kinds[_MEMORY_KINDS[name]] += int(rest.split()[0]) * 1024
    return {"rss": sum(kinds.values()), "anon": kinds["anon"], "file": kinds["file"]}


def group_run_queue_wait(pgid: int) -> float:
    """Seconds the threads of group ``pgid`` have spent runnable but waiting for a CPU (schedstat's second
    field): time a request spent there is the machine's doing, not the server's code."""
    waited = 0
    for entry, _ in _group(pgid):
        try:
            tasks = os.listdir(f"/proc/{entry}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                waited += int(Path(f"/proc/{entry}/task/{task}/schedstat").read_text().split()[1])
            except (OSError, IndexError, ValueError):  # the thread ended, or no schedstats in this kernel
                continue
    return waited / 1e9


EXITED = "exited"  # postgres_cpu's key for the CPU of the server's sessions that have ended


def _session_database(title: str) -> str | None:
    """The database of a PostgreSQL session from its process title ("postgres: 15/main: user db
    127.0.0.1(5432) idle"); None for the postmaster and the server's own processes (walwriter ...)."""
    parts = title.split(": ", 2)
    words = parts[2].split() if len(parts) == 3 else []
    if len(words) >= 3 and (words[2].endswith(")") or words[2] == "[local]"):
        return words[1]
    return None


def postgres_cpu(databases: Collection[str] | None = None) -> dict[str | int, float]:
    """CPU seconds of the PostgreSQL server's processes on this machine that count, by pid: the postmaster
    and the server's own processes (WAL writer, checkpointer ...: shared, driven by every database's
    writes), and the sessions connected to ``databases`` (every session without): a neighbour's tests on
    other databases of the same server are not this run's cost. Under EXITED, the CPU of the postmaster's
    children that have ended (closed sessions of any database; their pids are gone)."""
    cpu: dict[str | int, float] = {EXITED: 0.0}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if Path(f"/proc/{entry}/comm").read_text().strip() not in ("postgres", "postmaster"):
                continue
            title = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = _stat_fields(entry)
        database = _session_database(title)
        if fields is None or (databases is not None and database is not None and database not in databases):
            continue
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / _TICKS
        if not title.startswith("postgres:"):  # the postmaster: cutime + cstime are its reaped children's
            cpu[EXITED] += (int(fields[13]) + int(fields[14])) / _TICKS
    return cpu


def postgres_cpu_between(before: dict[str | int, float], after: dict[str | int, float]) -> tuple[float, float]:
    """(CPU seconds of the counted live processes, of the sessions that ended) between two postgres_cpu
    readings; a session that started in between counts from zero, one that ended counts under EXITED."""
    live = sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items() if pid != EXITED)
    return live, after[EXITED] - before[EXITED]


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


class CpuMeter:
    """CPU used by the load generator and by each given process group between start() and stop(),
    as a share of one core (1.0 = one core busy for the whole interval)."""

    def __init__(self, groups: dict[str, int], postgres: Collection[str] | None = None) -> None:
        self.groups = groups
        self.postgres = postgres  # also meter the PostgreSQL server, with the sessions of these databases

    def start(self) -> None:
        self._wall = time.perf_counter()
        self._client = own_cpu_seconds()
        self._groups = {name: group_stats(pgid)[1] for name, pgid in self.groups.items()}
        self._postgres = postgres_cpu(self.postgres) if self.postgres else {}

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._wall
        usage = {"load_generator": (own_cpu_seconds() - self._client) / wall}
        for name, pgid in self.groups.items():
            usage[name] = (group_stats(pgid)[1] - self._groups[name]) / wall
        if self.postgres:
            live, exited = postgres_cpu_between(self._postgres, postgres_cpu(self.postgres))
            usage["postgresql"] = live / wall
            usage["postgresql_exited_sessions"] = exited / wall  # any database's: reported beside, not in it
        return {name: round(share, 2) for name, share in usage.items()}


def serve_trivial(port: int, workers: int, log_path: Path, timeout: float = 30) -> subprocess.Popen:
    """Start ``bench.trivial_app`` with the transaction service's uvicorn settings; wait until it answers."""
    command = [
        sys.executable, "-m", "uvicorn", "bench.trivial_app:app", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--no-access-log", "--proxy-headers",
    ]
    log = log_path.open("ab")
    process = subprocess.Popen(command, cwd=SCRIPTS, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"trivial app exited with {process.returncode}; see {log_path}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_group(process)
    raise RuntimeError(f"trivial app not answering after {timeout}s; see {log_path}")


