"""Load from wrk (C, epoll), so the load generator is not the bottleneck: the maximum sustained rate
(closed loop) and the latency at a fixed rate (open loop, paced by capture.lua).

The Python generators in bench.loadgen spend 0.1-1 ms of CPU per request; against the trivial app that
made the client, not the server, the limit of the reference measures (at 70 % of the trivial app's maximum
the aiohttp open loop queued its own sends, and the reference's p99 came out above the capture's). wrk
spends a few tens of microseconds per request. It runs capture.lua, which builds a fresh body per request
like bench.users.capture_factory and sends the callers' bearer tokens in turn. Its own CPU is read from the
kernel's accounting of children, so each result says what the load generator itself cost.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.loadgen import LoadResult

SCRIPT = Path(__file__).with_name("capture.lua")
MARKER = "WRK_RESULT "


class WrkMissing(RuntimeError):
    """wrk is not installed (Debian/Ubuntu: apt-get install wrk)."""


@dataclass
class WrkResult:
    label: str
    duration_s: float
    statuses: Counter = field(default_factory=Counter)
    socket_errors: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50/p90/p99/max of every answer
    client_cpu_s: float = 0.0  # CPU used by wrk itself
    expect: int = 201

    @property
    def ok(self) -> int:
        return self.statuses.get(self.expect, 0)

    @property
    def errors(self) -> int:
        return sum(self.statuses.values()) - self.ok + sum(self.socket_errors.values())

    @property
    def throughput(self) -> float:
        return self.ok / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def client_cpu_ms_per_request(self) -> float:
        return self.client_cpu_s * 1000 / max(1, self.ok)

    def percentile_ms(self, q: int) -> float | None:
        return self.latency_ms.get(f"p{q}")

    def summary(self) -> dict:
        return {
            "label": self.label, "load_generator": "wrk", "requests_ok": self.ok, "errors": self.errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "socket_errors": self.socket_errors, "duration_s": round(self.duration_s, 3),
            "throughput_rps": round(self.throughput, 1),
            **{f"{k}_ms": round(v, 3) for k, v in self.latency_ms.items()},
            "load_generator_cpu_ms_per_request": round(self.client_cpu_ms_per_request, 4),
        }


def parse(output: str, label: str, expect: int) -> WrkResult:
    """The WRK_RESULT line that capture.lua's done() prints, as a WrkResult."""
    line = next((line for line in output.splitlines() if line.startswith(MARKER)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result line:\n{output[-2000:]}")
    raw = json.loads(line[len(MARKER):])
    return WrkResult(
        label=label, duration_s=raw["duration_us"] / 1e6, expect=expect,
        statuses=Counter({int(status): count for status, count in raw["statuses"].items()}),
        socket_errors={name: count for name, count in raw["errors"].items() if count},
        latency_ms={name: us / 1000 for name, us in raw["latency_us"].items()},
    )


def _wrk(base_url: str, *, tokens: list[str], connections: int, threads: int, duration: float, terminals: int,
         interval_us: float, latency_file: str, timeout: float) -> tuple[str, float]:
    """Run wrk with capture.lua; (its standard output, the CPU seconds it used)."""
    binary = shutil.which("wrk")
    if binary is None:
        raise WrkMissing("wrk is not installed (apt-get install wrk)")
    command = [binary, "-t", str(threads), "-c", str(max(connections, threads)), "-d", f"{max(1, round(duration))}s",
               "--timeout", f"{max(1, round(timeout))}s", "-s", str(SCRIPT), base_url,
               "--", str(threads), str(terminals), str(round(interval_us)), latency_file, *tokens]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + timeout + 30, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}: {(done.stderr or done.stdout)[-2000:]}")
    return done.stdout, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def closed_loop(base_url: str, *, tokens: list[str], concurrency: int, duration: float, threads: int = 1,
                terminals: int = 200, expect: int = 201, timeout: float = 10.0, label: str = "") -> WrkResult:
    """``concurrency`` connections sending back to back for ``duration`` s (whole seconds: wrk's own bound).

    One wrk thread by default: on a 2-core machine shared with the servers, a second thread only takes
    CPU from them."""
    output, cpu = _wrk(base_url, tokens=tokens, connections=concurrency, threads=threads, duration=duration,
                       terminals=terminals, interval_us=0, latency_file="-", timeout=timeout)
    result = parse(output, label, expect)
    result.client_cpu_s = cpu
    return result


def open_loop(base_url: str, *, tokens: list[str], rate: float, duration: float, connections: int = 16,
              terminals: int = 200, expect: int = 201, timeout: float = 10.0, label: str = "") -> LoadResult:
    """``rate`` requests a second for ``duration`` s (whole seconds), spread over ``connections``
    connections on one wrk thread each, every connection on a fixed schedule; latency counted from the
    scheduled send whenever the server kept the connection busy past it (see capture.lua).

    A server slower than the rate falls behind: its connections send back to back and every late request
    is charged its wait; the sends still due when wrk stops are reported as ``behind_at_end``. Threads
    mostly sleep in epoll, so many of them cost no more CPU than one."""
    connections = max(1, min(connections, round(rate)))  # at least one request a second per connection
    interval_us = connections / rate * 1e6
    with tempfile.NamedTemporaryFile(prefix="wrk-latency-", suffix=".txt") as latency_file:
        output, cpu = _wrk(base_url, tokens=tokens, connections=connections, threads=connections,
                           duration=duration, terminals=terminals, interval_us=interval_us,
                           latency_file=latency_file.name, timeout=timeout)
        lines = Path(latency_file.name).read_text().split()
    raw = parse(output, label, expect)
    paced = json.loads(next(line for line in output.splitlines() if line.startswith(MARKER))[len(MARKER):])["paced"]
    statuses: Counter = Counter({f"socket {name}": count for name, count in raw.socket_errors.items()})
    latencies = []
    for status, micros in zip(lines[::2], lines[1::2], strict=True):
        statuses[int(status)] += 1
        if int(status) == expect:
            latencies.append(int(micros) / 1e6)
    return LoadResult(label=label, duration_s=raw.duration_s, latencies_s=latencies, statuses=statuses,
                      target_rate=rate, load_generator="wrk", client_cpu_s=cpu,
                      send_lag_ms={k: v / 1000 for k, v in paced["lag_us"].items()},
                      behind_at_end=max(0, paced["due"] - paced["sent"] - connections))
