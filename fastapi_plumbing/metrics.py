"""/metrics of a FastAPI service, with one worker or several.

With ``WORKERS`` > 1, start.sh (through fastapi_plumbing/workers.sh) sets ``PROMETHEUS_MULTIPROC_DIR`` to a
folder emptied at each start: every worker writes its samples into files there and whichever worker answers
/metrics sums all of them (prometheus_client's multiprocess mode; gauges say how in their
``multiprocess_mode``). With one worker it is not set and the process's own registry is served: the
multiprocess values cost ~6 µs more CPU per request (the three metric updates of a /predict: 16.6 vs
10.4 µs, measured), which one worker does not need.

prometheus_client must see the variable before the first metric is created, so it is set before the
server starts, never from inside the application.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.registry import Collector

_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w*?_(\d+)\.db$")


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(per_process: Iterable[Collector] = ()) -> bytes:
    """The metrics text. ``per_process``: collectors that are computed in the answering worker, not
    summed (already in the process's own registry when there is one worker)."""
    folder = multiprocess_dir()
    if folder is None:
        return generate_latest(REGISTRY)
    forget_dead_workers(folder)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, folder)
    for collector in per_process:
        registry.register(collector)
    return generate_latest(registry)


def forget_dead_workers(folder: str) -> None:
    """Drop the live gauges (``livesum``, ``livemax``...) of workers that are gone. uvicorn's supervisor
    has no hook on a worker's exit (gunicorn's child_exit, which the auth service uses), so each scrape
    looks: a worker that was killed or replaced leaves its files behind, and its gauges would count on.
    Counters and histograms keep every worker's files, dead ones included: totals never go back."""
    for path in glob.glob(os.path.join(folder, "gauge_live*_*.db")):
        found = _LIVE_GAUGE_FILE.search(os.path.basename(path))
        if found and not _alive(int(found.group(1))):
            multiprocess.mark_process_dead(int(found.group(1)), folder)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's (a reused pid): not ours to judge
    return True
