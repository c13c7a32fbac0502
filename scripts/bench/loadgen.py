"""Load generation in Python, bounded in requests, time and concurrency.

* ``open_loop`` (aiohttp on uvloop): requests are scheduled at a fixed rate and each latency is measured
  from its *scheduled* send time, not from when a free connection let it go. A server that stalls
  therefore pays for every request it delayed (no coordinated omission); ``max_in_flight`` only bounds
  the client's memory and sockets. aiohttp costs about 0.1-0.3 ms of client CPU per request, against
  0.8 ms for an httpx AsyncClient.
* ``interleaved`` (httpx, one request at a time): several kinds of request in turn, for side-by-side
  latency ratios.

Both take ``make_request(i) -> (method, path, kwargs)`` so the caller decides bodies and headers. The
maximum sustained rate and the latency at 70 % of it are measured with wrk (bench.wrk), whose client cost
is tens of microseconds; ``open_loop`` here drives the soak (captures and auth reads side by side), at
rates a Python client keeps up with.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import numpy as np

RequestFactory = Callable[[int], tuple[str, str, dict[str, Any]]]


@dataclass
class LoadResult:
    label: str
    duration_s: float  # wall time from first scheduled send to last answer
    latencies_s: list[float] = field(default_factory=list)  # successful answers only
    statuses: Counter = field(default_factory=Counter)  # HTTP status (or exception name) -> count
    target_rate: float | None = None
    unsent: int = 0  # scheduled requests dropped because the time budget ran out
    load_generator: str = "python"
    client_cpu_s: float | None = None  # the load generator's own CPU, when it is a process of its own (wrk)
    send_lag_ms: dict[str, float] | None = None  # paced sends that left after their time on a free connection
    behind_at_end: int | None = None  # paced sends due by the end but never sent (the server fell behind)

    @property
    def ok(self) -> int:
        return len(self.latencies_s)

    @property
    def errors(self) -> int:
        return sum(self.statuses.values()) - self.ok + self.unsent

    @property
    def throughput(self) -> float:
        return self.ok / self.duration_s if self.duration_s > 0 else 0.0

    def percentile_ms(self, q: float) -> float | None:
        if not self.latencies_s:
            return None
        return float(np.percentile(np.asarray(self.latencies_s), q) * 1000.0)

    def summary(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "requests_ok": self.ok,
            "errors": self.errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items(), key=str)},
            "duration_s": round(self.duration_s, 3),
            "throughput_rps": round(self.throughput, 1),
            "target_rate_rps": None if self.target_rate is None else round(self.target_rate, 1),
            **{f"p{q}_ms": _round(self.percentile_ms(q)) for q in (50, 90, 99)},
            "max_ms": _round(max(self.latencies_s) * 1000.0 if self.latencies_s else None),
            "load_generator": self.load_generator,
            **({} if self.client_cpu_s is None else
               {"load_generator_cpu_ms_per_request": round(self.client_cpu_s * 1000 / max(1, self.ok), 4)}),
            **({} if self.send_lag_ms is None else {"send_lag_ms": self.send_lag_ms}),
            **({} if self.behind_at_end is None else {"behind_at_end": self.behind_at_end}),
        }


def combined(parts: list[LoadResult], label: str) -> LoadResult:
    """Several runs of one kind as one: every latency and status, the durations and client CPU added up,
    the worst part's send lag, everything the parts left behind."""
    lags = [part.send_lag_ms for part in parts if part.send_lag_ms]
    behind = [part.behind_at_end for part in parts if part.behind_at_end is not None]
    cpus = [part.client_cpu_s for part in parts if part.client_cpu_s is not None]
    return LoadResult(
        label=label, duration_s=sum(part.duration_s for part in parts),
        latencies_s=[latency for part in parts for latency in part.latencies_s],
        statuses=sum((part.statuses for part in parts), Counter()),
        target_rate=parts[0].target_rate, unsent=sum(part.unsent for part in parts),
        load_generator=parts[0].load_generator, client_cpu_s=sum(cpus) if cpus else None,
        send_lag_ms={key: max(lag[key] for lag in lags) for key in lags[0]} if lags else None,
        behind_at_end=sum(behind) if behind else None,
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _session(base_url: str, connections: int, timeout: float) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    return aiohttp.ClientSession(base_url=base_url, connector=connector,
                                 timeout=aiohttp.ClientTimeout(total=timeout))


async def _send(session: aiohttp.ClientSession, factory: RequestFactory, i: int) -> str | int:
    method, path, kwargs = factory(i)
    try:
        async with session.request(method, path, **kwargs) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return type(exc).__name__


async def open_loop(
    base_url: str, factory: RequestFactory, *, rate: float, duration: float, max_in_flight: int,
    expect: int = 200, timeout: float = 10.0, label: str = "",
) -> LoadResult:
    """Requests scheduled every 1/rate s for ``duration`` s; latency counted from the scheduled time.

    A request whose turn comes while ``max_in_flight`` are outstanding waits for a slot, and that wait
    is part of its latency. Sends still queued ``timeout`` s after the schedule ends are dropped and
    counted as ``unsent`` errors, so the run always ends.
    """
    total = max(1, int(rate * duration))
    result = LoadResult(label=label, duration_s=0.0, target_rate=rate)
    session = _session(base_url, max_in_flight, timeout)
    slots = asyncio.Semaphore(max_in_flight)
    try:
        start = time.perf_counter()
        give_up = start + duration + timeout

        async def one(i: int, scheduled: float) -> None:
            try:
                status = await _send(session, factory, i)
                result.statuses[status] += 1
                if status == expect:
                    result.latencies_s.append(time.perf_counter() - scheduled)
            finally:
                slots.release()

        tasks = []
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await asyncio.wait_for(slots.acquire(), max(0.0, give_up - time.perf_counter()))
            except TimeoutError:
                result.unsent = total - i
                break
            tasks.append(asyncio.create_task(one(i, scheduled)))
        if tasks:
            await asyncio.wait(tasks, timeout=max(0.1, give_up - time.perf_counter()))
        result.duration_s = time.perf_counter() - start
        unfinished = [task for task in tasks if not task.done()]
        for task in unfinished:
            task.cancel()
        if unfinished:
            result.statuses["unfinished"] += len(unfinished)
    finally:
        await session.close()
    return result


def run(coroutine):
    """Run a load coroutine on uvloop (the same loop the services' uvicorn uses)."""
    import uvloop

    return uvloop.run(coroutine)


def interleaved(
    base_url: str, factories: dict[str, RequestFactory], *, rounds: int, time_budget: float,
    expect: dict[str, int], timeout: float = 10.0,
) -> dict[str, LoadResult]:
    """One request of each kind per round, in turn, one at a time: the kinds share every moment of the
    run, so drift of a shared machine affects them alike. Stops after ``rounds`` or ``time_budget`` s."""
    results = {label: LoadResult(label=label, duration_s=0.0) for label in factories}
    start = time.perf_counter()
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        for i in range(rounds):
            if time.perf_counter() - start > time_budget:
                break
            for label, factory in factories.items():
                method, path, kwargs = factory(i)
                sent = time.perf_counter()
                try:
                    status: str | int = client.request(method, path, **kwargs).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                elapsed = time.perf_counter() - sent
                results[label].statuses[status] += 1
                results[label].duration_s += elapsed
                if status == expect[label]:
                    results[label].latencies_s.append(elapsed)
    return results
