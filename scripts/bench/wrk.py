"""Maximum sustained rate measured with wrk (C, epoll), so the load generator is not the bottleneck.

The Python generators in bench.loadgen spend 0.1-0.8 ms of CPU per request; against the trivial app that
made the client, not the server, the limit of the reference measure. wrk spends a few microseconds per
request. It runs capture.lua, which builds a fresh body per request like bench.users.capture_factory and
sends the callers' bearer tokens in turn. Its own CPU is read from the kernel's accounting of children, so
each result says what the load generator itself cost.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

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


def closed_loop(base_url: str, *, tokens: list[str], concurrency: int, duration: float, threads: int = 1,
                terminals: int = 200, expect: int = 201, timeout: float = 10.0, label: str = "") -> WrkResult:
    """``concurrency`` connections sending back to back for ``duration`` s (whole seconds: wrk's own bound).

    One wrk thread by default: on a 2-core machine shared with the servers, a second thread only takes
    CPU from them."""
    binary = shutil.which("wrk")
    if binary is None:
        raise WrkMissing("wrk is not installed (apt-get install wrk)")
    command = [binary, "-t", str(threads), "-c", str(max(concurrency, threads)), "-d", f"{max(1, round(duration))}s",
               "--timeout", f"{max(1, round(timeout))}s", "-s", str(SCRIPT), base_url,
               "--", str(threads), str(terminals), *tokens]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + timeout + 30, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}: {(done.stderr or done.stdout)[-2000:]}")
    result = parse(done.stdout, label, expect)
    result.client_cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result
