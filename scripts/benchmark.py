"""Benchmark detec_fraude: scoring speed, capture throughput and latency, growth with history, memory,
training time. Writes bench/results.json, bench/results.md and bench/latency.png.

Starts the three services itself (scripts/stack.py) on a fresh data folder with the model in
--model-dir, on SQLite by default or on fresh databases of --postgres URL, with the transaction service's
per-user rate limits turned off (RATE_LIMIT_*_PER_MINUTE=0): ten customers carry all the load. Every
number that has a target is a ratio of two measurements taken side by side in this run, because absolute
numbers on a shared machine drift. All traffic goes to 127.0.0.1; every loop is bounded in requests and in time.

    python scripts/benchmark.py                 # full run, ~25 minutes on 2 cores (1M-row tables, 5-minute soak)
    python scripts/benchmark.py --quick         # smoke run, ~5 minutes
    python scripts/benchmark.py --workers 2 --only capture   # the services (and the reference) with 2 workers

`make bench-all` runs SQLite, PostgreSQL and WORKERS=2 one after the other and puts them side by side
(scripts/bench/report.py combine).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

# "import bench.x as x", not "from bench import x": the latter sorts differently when bench/ (the output) exists.
import bench.fraud_measures as fraud_measures  # noqa: E402
import bench.growth as growth  # noqa: E402
import bench.report as report  # noqa: E402
import bench.training as training  # noqa: E402
import bench.wrk as wrk  # noqa: E402
from bench.autovacuum import AutovacuumStandIn, server_autovacuums  # noqa: E402
from bench.databases import PostgresDatabases  # noqa: E402
from bench.loadgen import LoadResult, combined, interleaved, open_loop, run  # noqa: E402
from bench.processes import (  # noqa: E402
    CpuMeter,
    group_memory,
    group_run_queue_wait,
    group_stats,
    serve_trivial,
    stop_group,
)
from bench.profiling import Profiler  # noqa: E402
from bench.users import Caller, capture_factory, register_customers, staff_caller  # noqa: E402
from stack import LocalStack, free_port  # noqa: E402

TARGETS = {
    "scoring_speedup": 30.0,  # compiled scorer at least this many times faster than decision_function
    "predict_over_health_median": 1.5,
    "capture_share_of_ceiling": 0.25,
    "capture_cpu_over_ceiling_cpu": 10.0,
    "capture_p99_over_ceiling_p99": 10.0,
    "growth": 1.3,
    "console_growth": 1.5,  # analyst console reads (queue page, what-if), 10,000 -> 1,000,000 rows
    "soak_memory_growth": 0.05,  # anonymous memory: see phase_memory
    "batch_over_single": 10.0,
    "postgres_cpu_ms_per_capture": 1.0,
}
LOAD_FRACTION = 0.7  # the latency run is open-loop at this share of the maximum sustained rate
# The max-rate runs double their connections from --concurrency while the rate still rises by more than this,
# up to MAX_CONNECTIONS_FACTOR times --concurrency: a pipelined server is not at its max while more requests in
# flight still add throughput (docs/performance.md, "The capture's maximum and its pipeline").
KNEE_GAIN = 0.05
MAX_CONNECTIONS_FACTOR = 8
SOAK_WARM_UP_SHARE = 0.2  # soak load run before the memory baseline, as a share of --soak-seconds


@dataclass(frozen=True)
class Plan:
    """Sizes of one run; --quick shrinks them so the whole run takes two to three minutes."""

    duration: float
    concurrency: int
    soak_seconds: float
    table_sizes: tuple[int, int] = (10_000, 1_000_000)
    growth_rounds: int = 300
    scoring_repeats: int = 1_000
    overhead_rounds: int = 300
    batch_rows: int = 2_000
    featurise: dict = field(default_factory=lambda: {"rows": 1_000_000, "days": 160, "customers": 5_000,
                                                     "terminals": 10_000})
    training_args: tuple[str, ...] = ()
    probe_max: bool = True  # False: --fixed-concurrency


def make_plan(args: argparse.Namespace) -> Plan:
    if not args.quick:
        return Plan(duration=args.duration or 20, concurrency=args.concurrency, probe_max=not args.fixed_concurrency,
                    soak_seconds=300 if args.soak_seconds is None else args.soak_seconds)
    return Plan(
        duration=args.duration or 5, concurrency=args.concurrency, probe_max=not args.fixed_concurrency,
        soak_seconds=30 if args.soak_seconds is None else args.soak_seconds,
        table_sizes=(10_000, 100_000), growth_rounds=60, scoring_repeats=200, overhead_rounds=60, batch_rows=500,
        featurise={"rows": 100_000, "days": 16, "customers": 5_000, "terminals": 10_000},
        training_args=("--days", "30", "--customers", "500", "--terminals", "1000"),
    )


@dataclass
class Run:
    args: argparse.Namespace
    plan: Plan
    work_dir: Path
    stack: LocalStack | None = None
    customers: list[Caller] = field(default_factory=list)
    staff: Caller | None = None
    phases: dict[str, dict] = field(default_factory=dict)
    checks: list[dict] = field(default_factory=list)
    plotted: list[LoadResult] = field(default_factory=list)
    history_seeded: bool = False
    databases: PostgresDatabases | None = None  # with --postgres
    autovacuum: AutovacuumStandIn | None = None  # with --postgres on a server without autovacuum

    def cpu_meter(self, **extra: int) -> CpuMeter:
        groups = {name: process.pid for name, process in self.stack.processes.items()}
        return CpuMeter({**groups, **extra}, postgres=list(self.databases.names.values()) if self.databases else None)

    def memory_mib(self) -> dict[str, dict[str, float]]:
        """Each service's resident memory by kind (``bench.processes.group_memory``), in MiB."""
        return {name: {kind: round(size / 2**20, 1) for kind, size in group_memory(process.pid).items()}
                for name, process in self.stack.processes.items()}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, help="seconds per load step (default 20; quick 5)")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="connections the max-rate runs probe first (16): each max runs where doubling "
                             f"them stops adding {KNEE_GAIN * 100:g} %% to the rate")
    parser.add_argument("--fixed-concurrency", action="store_true",
                        help="run each max at --concurrency, without probing (the benchmark before session 12)")
    parser.add_argument("--quick", action="store_true", help="small sizes and short steps: a 2-3 minute smoke run")
    parser.add_argument("--postgres", metavar="URL", help="run the services on fresh databases of this server")
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn workers of the transaction and fraud services, and of the trivial reference (1)")
    parser.add_argument("--soak-seconds", type=float, help="memory soak length (default 300; quick 30)")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "ml_model" / "models")
    parser.add_argument("--out", type=Path, default=ROOT / "bench", help="output folder (default bench/)")
    parser.add_argument("--profile", nargs="?", const="wall", choices=["wall", "cpu"],
                        help="sample the services with py-spy during the max-rate capture run (bench/profiles/): "
                             "wall time including waits (default) or CPU only")
    parser.add_argument("--only", nargs="+", choices=list(PHASES), help="run only these phases")
    parser.add_argument("--skip", nargs="+", choices=list(PHASES), default=[],
                        help="leave these phases out (make bench-all: the database-independent ones, on the "
                             "second database)")
    args = parser.parse_args(argv)
    # Absolute: the services and the seeders resolve the stack's folders (data under --out, the model) from
    # their own working directories, so a relative --out (make bench-all's) put their databases apart.
    args.out, args.model_dir = args.out.resolve(), args.model_dir.resolve()
    if args.concurrency < 1 or args.workers < 1 or (args.duration is not None and args.duration <= 0):
        parser.error("--concurrency, --workers and --duration must be positive")
    if not (args.model_dir / "model_metadata.json").exists():
        parser.error(f"no trained model in {args.model_dir} (run `make train`)")
    return args


# --- phases: each records its numbers in run.phases[name] and its targets in run.checks -------------


def phase_scoring(run_: Run) -> dict:
    result = fraud_measures.scoring_speed(run_.args.model_dir, repeats=run_.plan.scoring_repeats)
    exact = result["max_abs_diff_2000_rows"] < 1e-9
    run_.checks.append(report.check(
        "1", "scorer speed-up: compiled vs `decision_function`, one row (×)", round(result["speedup"], 1),
        f"≥ {TARGETS['scoring_speedup']:g}× and identical scores", result["speedup"] >= TARGETS["scoring_speedup"]
        and exact, f"{result['sklearn_decision_function_ms']:.3f} ms vs {result['compiled_ms']:.3f} ms; "
        f"max |Δscore| {result['max_abs_diff_2000_rows']:.1e} over 2,000 rows"))
    return result


def phase_fraud_overhead(run_: Run) -> dict:
    fraud_measures.seed_history(run_.stack)
    run_.history_seeded = True
    result = fraud_measures.predict_vs_health(run_.stack, run_.plan.overhead_rounds)
    ratio = result["predict_over_health"]
    run_.checks += [
        report.check("2", "fraud service: `/predict` / `/health` median (×)", round(ratio, 2),
                     f"≤ {TARGETS['predict_over_health_median']:g}×",
                     ratio <= TARGETS["predict_over_health_median"],
                     f"median {result['predict_median_ms']:.2f} vs {result['health_median_ms']:.2f} ms, "
                     f"{run_.plan.overhead_rounds} interleaved rounds, each request "
                     f"{result['pacing_gap_ms']:g} ms after the previous answer; back to back "
                     f"{result['back_to_back']['predict_over_health']:.2f}× "
                     f"({result['back_to_back']['predict_median_ms']:.2f} vs "
                     f"{result['back_to_back']['health_median_ms']:.2f} ms)"),
        report.check("4", "fraud `/predict` latency, history 10 → 10,000 (median ×)",
                     round(result["history_ratio"], 2), f"≤ {TARGETS['growth']:g}×",
                     result["history_ratio"] <= TARGETS["growth"],
                     f"median {result['history_10_median_ms']:.2f} → {result['history_10000_median_ms']:.2f} ms"),
    ]
    return result


def phase_batch(run_: Run) -> dict:
    result = fraud_measures.batch_vs_single(run_.stack, run_.plan.batch_rows)
    run_.checks.append(report.check(
        "7", "fraud `/predict/batch` rows/s ÷ `/predict` one at a time (×)", round(result["batch_over_single"], 1),
        f"≥ {TARGETS['batch_over_single']:g}×", result["batch_over_single"] >= TARGETS["batch_over_single"],
        f"{result['batch_rows_per_s']:,.0f} vs {result['single_rows_per_s']:,.0f} rows/s, {result['rows']:,} "
        f"transactions in batches of {result['batch_size']}"))
    return result


def knee(rates: dict[int, float]) -> int:
    """The fewest connections whose rate is within KNEE_GAIN of the best rate probed."""
    best = max(rates.values())
    return min(connections for connections, rate in rates.items() if rate * (1 + KNEE_GAIN) >= best)


def _probe_connections(base_url: str, tokens: list[str], plan: Plan, expect: int) -> tuple[int, dict[int, float]]:
    """Short closed loops at --concurrency, then twice as many connections while the rate rises by more
    than KNEE_GAIN: the concurrency of the max (``knee``) and every rate probed. A server that is saturated at
    --concurrency (the trivial app) stops after one doubling; one whose requests wait in a pipeline (the
    capture's scoring calls) is at its max only with more of them in flight."""
    seconds = max(2, round(plan.duration / 5))
    rates: dict[int, float] = {}
    connections = plan.concurrency
    while True:
        rates[connections] = wrk.closed_loop(base_url, tokens=tokens, concurrency=connections, duration=seconds,
                                             expect=expect, label="probe").throughput
        rising = len(rates) == 1 or rates[connections] > rates[connections // 2] * (1 + KNEE_GAIN)
        if not rising or connections * 2 > plan.concurrency * MAX_CONNECTIONS_FACTOR:
            return knee(rates), rates
        connections *= 2


def _max(base_url: str, tokens: list[str], label: str, plan: Plan, meter: CpuMeter, expect: int,
         profiler: Profiler | None = None, databases=None, readings: Callable[[], Counter] | None = None) -> dict:
    """wrk for the maximum sustained rate (closed loop at the concurrency ``_probe_connections`` finds, or at
    --concurrency with --fixed-concurrency), with the servers' CPU per answered request. ``readings`` (counters
    read from the services, e.g. ``decisions_by``) are read around the measured run only, as the CPU is, so
    neither the probes nor the warm-up count: their difference is ``moved``."""
    connections, probed = (_probe_connections(base_url, tokens, plan, expect) if plan.probe_max
                           else (plan.concurrency, {}))
    wrk.closed_loop(base_url, tokens=tokens, concurrency=connections, duration=min(5, plan.duration / 2),
                    expect=expect, label="warm-up")
    counters = databases.activity() if databases else None
    read_before = readings() if readings else Counter()
    meter.start()
    with profiler or contextlib.nullcontext():
        peak = wrk.closed_loop(base_url, tokens=tokens, concurrency=connections, duration=plan.duration,
                               expect=expect, label=f"{label} max")
    cpu = meter.stop()
    moved = readings() - read_before if readings else Counter()
    if databases:  # per answered request during the max run: connections opened, commits
        after = databases.activity()
        counters = {f"{name}_per_request": round((after[name] - counters[name]) / max(1, peak.ok), 3)
                    for name in after} | {"new_sessions_per_s": round((after["sessions"] - counters["sessions"])
                                                                      / peak.duration_s, 1)}
    cpu["load_generator"] = round(peak.client_cpu_s / peak.duration_s, 2)  # wrk, not this process
    # CPU per answered request: unlike req/s, it does not move when the client or a neighbour takes the CPU.
    per_request = {name: round(share * peak.duration_s * 1000 / max(1, peak.ok), 3) for name, share in cpu.items()}
    return {"max": peak, "connections": connections, "probed_rates": {c: round(r) for c, r in probed.items()},
            "moved": moved, "cpu_share_at_max": cpu, "cpu_ms_per_request": per_request, "postgresql": counters,
            "url": base_url, "label": label, "meter": meter}


def _open_loops_interleaved(runs: dict[str, dict], tokens: list[str], plan: Plan, expect: int) -> None:
    """wrk paced at LOAD_FRACTION of each run's max (open loop), the runs taking turns in slices of about
    5 s that add up to plan.duration each: on a shared machine the reference and the capture then meet the
    same neighbours, instead of one of them a busier minute. Adds to each run its merged open-loop result,
    its servers' CPU per request at that rate and their time waiting for a CPU (the machine's share of the
    latency, which a stall-free server does not have)."""
    slices = max(2, round(plan.duration / 5))
    seconds = max(2, math.ceil(plan.duration / slices))  # wrk's -d is whole seconds
    parts: dict[str, list] = {name: [] for name in runs}
    # The servers a request passes through (the auth service is idle during captures): CPU and waits, seconds.
    groups = {name: {group: pgid for group, pgid in run_["meter"].groups.items() if group != "auth"}
              for name, run_ in runs.items()}
    cpu = {name: Counter() for name in runs}
    waited = {name: Counter() for name in runs}
    wall = Counter()
    for _ in range(slices):
        for name, run_ in runs.items():
            before = {group: (group_stats(pgid)[1], group_run_queue_wait(pgid)) for group, pgid in groups[name].items()}
            began = time.perf_counter()
            # Paced by wrk, not by a Python client: at the trivial app's rate a Python generator was itself
            # the bottleneck and its queueing showed up as the reference's latency.
            parts[name].append(wrk.open_loop(
                run_["url"], tokens=tokens, rate=max(1.0, run_["max"].throughput * LOAD_FRACTION), duration=seconds,
                # As many connections as its max had in flight: fewer could not keep the rate's schedule.
                connections=run_["connections"], expect=expect, label=run_["label"]))
            wall[name] += time.perf_counter() - began
            for group, pgid in groups[name].items():
                cpu[name][group] += group_stats(pgid)[1] - before[group][0]
                waited[name][group] += group_run_queue_wait(pgid) - before[group][1]
    for name, run_ in runs.items():
        loaded = combined(parts[name], f"{run_['label']} at {LOAD_FRACTION:.0%}")
        run_["at_fraction"] = loaded
        run_["open_loop_client_cpu_ms_per_request"] = round(loaded.client_cpu_s * 1000 / max(1, loaded.ok), 3)
        # Against cpu_ms_per_request (at the max): what the load point costs the servers per request. Fewer
        # requests in flight batch less per event-loop turn, so a request may cost more than at the max.
        run_["open_loop_cpu_ms_per_request"] = {group: round(seconds_ * 1000 / max(1, loaded.ok), 3)
                                                for group, seconds_ in cpu[name].items()}
        run_["open_loop_run_queue_wait_share"] = {group: round(seconds_ / wall[name], 3)
                                                  for group, seconds_ in waited[name].items()}
        run_["open_loop_slices"] = f"{slices} × {seconds} s"
        del run_["meter"], run_["url"], run_["label"]


def phase_capture(run_: Run) -> dict:
    plan, stack = run_.plan, run_.stack
    tokens = [caller.headers["Authorization"].removeprefix("Bearer ") for caller in run_.customers]
    port = free_port()
    # As many workers as the services: the reference is what this framework and server do with that setting.
    trivial = serve_trivial(port, workers=run_.args.workers, log_path=run_.work_dir / "trivial.log")
    try:
        ceiling = _max(f"http://127.0.0.1:{port}", tokens, "trivial FastAPI", plan,
                       CpuMeter({"trivial": trivial.pid}), expect=201)
        profiler = None
        if run_.args.profile:
            pids = {name: process.pid for name, process in stack.processes.items() if name != "auth"}
            profiler = Profiler(pids, run_.args.out / "profiles", plan.duration, idle=run_.args.profile == "wall")
        decided_before = decisions_by(stack.url("transactions"))
        capture = _max(stack.url("transactions"), tokens, "POST /transactions", plan,
                       run_.cpu_meter(), expect=201, profiler=profiler, databases=run_.databases,
                       readings=lambda: decisions_by(stack.url("transactions")))
        decided_at_max = decisions_by(stack.url("transactions"))
        capture["transactions_per_scoring_call"] = transactions_per_call(capture["moved"])
        _open_loops_interleaved({"trivial": ceiling, "capture": capture}, tokens, plan, expect=201)
    finally:
        stop_group(trivial)
    # A 201 decided by the fallback policy (fraud service slow, down or circuit open) is a degraded answer:
    # a run where the model did not decide every capture measured the wrong thing.
    decided_after = decisions_by(stack.url("transactions"))
    capture["open_loop_transactions_per_scoring_call"] = transactions_per_call(decided_after - decided_at_max)
    decided = Counter({who: decided_after[who] - decided_before[who] for who in ("model", "fallback")})
    run_.plotted += [ceiling["at_fraction"], capture["at_fraction"]]
    share = capture["max"].throughput / ceiling["max"].throughput
    p99_ratio = capture["at_fraction"].percentile_ms(99) / ceiling["at_fraction"].percentile_ms(99)
    errors = capture["max"].errors + capture["at_fraction"].errors

    def server_ms(runs: dict) -> float:
        # The servers a capture passes through (transactions + fraud) or the trivial app; the auth service is
        # idle during captures and PostgreSQL is reported on its own below.
        return sum(ms for name, ms in runs["cpu_ms_per_request"].items()
                   if name in ("transactions", "fraud", "trivial"))

    run_.checks += [
        report.check("3", "capture max throughput / trivial endpoint (share)", round(share, 3),
                     f"≥ {TARGETS['capture_share_of_ceiling']:g}", share >= TARGETS["capture_share_of_ceiling"],
                     f"{capture['max'].throughput:.0f} vs {ceiling['max'].throughput:.0f} req/s at "
                     f"{capture['connections']} / {ceiling['connections']} connections{_probed(capture, ceiling)}; "
                     f"CPU (cores) capture {capture['cpu_share_at_max']}, trivial {ceiling['cpu_share_at_max']}"),
        report.check("3", "server CPU per request: capture (all services) / trivial (×)",
                     round(server_ms(capture) / server_ms(ceiling), 2),
                     f"≤ {TARGETS['capture_cpu_over_ceiling_cpu']:g}×",
                     server_ms(capture) / server_ms(ceiling) <= TARGETS["capture_cpu_over_ceiling_cpu"],
                     f"{server_ms(capture):.2f} vs {server_ms(ceiling):.2f} ms per request at the max rate; "
                     f"{capture['transactions_per_scoring_call']} transactions per scoring call (at "
                     f"{LOAD_FRACTION:.0%}: {capture['open_loop_transactions_per_scoring_call']})"),
        report.check("3", "load generator CPU per request (wrk at max; wrk paced open loop at "
                     f"{LOAD_FRACTION:.0%})", None, "reported", None,
                     f"max {ceiling['cpu_ms_per_request']['load_generator']:.3f} (trivial) / "
                     f"{capture['cpu_ms_per_request']['load_generator']:.3f} (capture) ms; open loop "
                     f"{ceiling['open_loop_client_cpu_ms_per_request']:.3f} / "
                     f"{capture['open_loop_client_cpu_ms_per_request']:.3f} ms; open-loop send lag p99 "
                     f"{ceiling['at_fraction'].send_lag_ms['p99']:.1f} / "
                     f"{capture['at_fraction'].send_lag_ms['p99']:.1f} ms"),
        # A reference slower than what it references would mean the client queued, not the server.
        report.check("3", f"trivial p99 < capture p99 at {LOAD_FRACTION:.0%} of each max (reference sanity)",
                     round(ceiling["at_fraction"].percentile_ms(99), 2), "below the capture's",
                     ceiling["at_fraction"].percentile_ms(99) < capture["at_fraction"].percentile_ms(99),
                     f"trivial {ceiling['at_fraction'].percentile_ms(99):.1f} ms vs capture "
                     f"{capture['at_fraction'].percentile_ms(99):.1f} ms; p50 "
                     f"{ceiling['at_fraction'].percentile_ms(50):.1f} vs "
                     f"{capture['at_fraction'].percentile_ms(50):.1f} ms; taking turns, {ceiling['open_loop_slices']} "
                     f"each; server CPU per request at {LOAD_FRACTION:.0%} (at max): {_open_loop_cost(ceiling)} / "
                     f"{_open_loop_cost(capture)}; servers waiting for a CPU (share of the run, summed over "
                     f"threads): trivial "
                     f"{ceiling['open_loop_run_queue_wait_share']}, capture "
                     f"{capture['open_loop_run_queue_wait_share']}"),
        report.check("3", f"capture p99 / trivial p99 at {LOAD_FRACTION:.0%} of each max (×)", round(p99_ratio, 2),
                     f"≤ {TARGETS['capture_p99_over_ceiling_p99']:g}×",
                     p99_ratio <= TARGETS["capture_p99_over_ceiling_p99"],
                     f"{capture['at_fraction'].percentile_ms(99):.1f} vs "
                     f"{ceiling['at_fraction'].percentile_ms(99):.1f} ms (open loop, from scheduled send)"),
        report.check("3", "capture errors (all capture runs)", errors, "0", errors == 0,
                     json.dumps({str(k): v for k, v in (Counter(capture["max"].statuses)
                                                        + Counter(capture["at_fraction"].statuses)).items()})),
        report.check("3", "captures decided by the fallback instead of the model", decided["fallback"], "0",
                     decided["fallback"] == 0 and decided["model"] > 0, json.dumps(dict(decided))),
    ]
    if capture["postgresql"] is not None:
        pg_ms = capture["cpu_ms_per_request"]["postgresql"]
        run_.checks.append(report.check(
            "5", "PostgreSQL server CPU per capture (ms)", pg_ms, f"≤ {TARGETS['postgres_cpu_ms_per_capture']:g}",
            pg_ms <= TARGETS["postgres_cpu_ms_per_capture"],
            f"at the max rate; new sessions {capture['postgresql']['new_sessions_per_s']}/s, sessions per capture "
            f"{capture['postgresql']['sessions_per_request']}, commits per capture "
            f"{capture['postgresql']['commits_per_request']}, rows read by sequential scans per capture "
            f"{capture['postgresql']['rows_seq_scanned_per_request']} (both services' databases); the server's own "
            f"processes and this run's sessions only; sessions that ended meanwhile (any database on the server) "
            f"{capture['cpu_ms_per_request']['postgresql_exited_sessions']:.3f} ms per capture more"))
    return {"trivial": summarise(ceiling), "capture": summarise(capture)}


def _probed(capture: dict, ceiling: dict) -> str:
    if not capture["probed_rates"]:
        return ""
    rates = {name: ", ".join(f"{connections}: {rate}" for connections, rate in runs["probed_rates"].items())
             for name, runs in (("capture", capture), ("trivial", ceiling))}
    return f" (req/s probed by connections: capture {rates['capture']}; trivial {rates['trivial']})"


def _open_loop_cost(runs: dict) -> str:
    return ", ".join(f"{group} {ms:.3f} ({runs['cpu_ms_per_request'][group]:.3f}) ms"
                     for group, ms in runs["open_loop_cpu_ms_per_request"].items())


def summarise(runs: dict) -> dict:
    """A phase's runs as plain JSON: every load result (wrk's or the Python generator's) by its summary."""
    return {k: (v.summary() if isinstance(v, LoadResult | wrk.WrkResult) else v) for k, v in runs.items()}


def soak_rate(phases: dict) -> float:
    """Half the capture phase's maximum sustained rate when it ran in this run, else 50 req/s."""
    peak = phases.get("capture", {}).get("capture", {}).get("max", {}).get("throughput_rps") or 100
    return max(5.0, peak * 0.5)


def decisions_by(base_url: str) -> Counter:
    """From the transaction service's /metrics, so far: decisions by who took them ("model" / "fallback"),
    and the calls to the fraud service with the transactions they carried ("scoring_calls" /
    "scored_in_calls")."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    counts: Counter = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "transaction_decisions_total":
                counts[sample.labels["decided_by"]] += int(sample.value)
            elif sample.name == "transaction_fraud_call_transactions_count":
                counts["scoring_calls"] += int(sample.value)
            elif sample.name == "transaction_fraud_call_transactions_sum":
                counts["scored_in_calls"] += int(sample.value)
    return counts


def transactions_per_call(counts: Counter) -> float:
    """Transactions per scoring call in a difference of two ``decisions_by``: how well the captures batched
    (each call has its HTTP exchange, transaction and commit). Beside the CPU per capture it tells a change of
    batching from a change of the machine's speed, which moves the CPU per capture as much."""
    return round(counts["scored_in_calls"] / max(1, counts["scoring_calls"]), 2)


def _growth_check(measure: str, small: LoadResult, big: LoadResult, sizes: tuple[int, int],
                  target: str = "growth") -> dict:
    ratio = big.percentile_ms(50) / small.percentile_ms(50)
    errors = small.errors + big.errors
    return report.check("4", measure, round(ratio, 2), f"≤ {TARGETS[target]:g}×",
                        ratio <= TARGETS[target] and errors == 0,
                        f"median {small.percentile_ms(50):.2f} → {big.percentile_ms(50):.2f} ms, p99 "
                        f"{small.percentile_ms(99):.2f} → {big.percentile_ms(99):.2f} ms "
                        f"({sizes[0]:,} vs {sizes[1]:,}); errors {errors}")


def phase_growth_history(run_: Run) -> dict:
    if not run_.history_seeded:
        fraud_measures.seed_history(run_.stack)
        run_.history_seeded = True
    small, big = fraud_measures.HISTORY_SIZES
    at = fraud_measures.capture_time()
    factories = {str(small): growth.staff_capture(run_.staff.headers, *fraud_measures.LIGHT, at),
                 str(big): growth.staff_capture(run_.staff.headers, *fraud_measures.HEAVY, at)}
    runs = interleaved(run_.stack.url("transactions"), factories, rounds=run_.plan.growth_rounds,
                       time_budget=run_.plan.duration * 3, expect={str(small): 201, str(big): 201})
    run_.checks.append(_growth_check("capture latency, customer+terminal history 10 → 10,000 (median ×)",
                                     runs[str(small)], runs[str(big)], (small, big)))
    return {f"history_{k}": v.summary() for k, v in runs.items()}


def phase_growth_table(run_: Run) -> dict:
    """Small tables, big tables, small again (the seeded rows deleted): the two small-table runs bracket
    the big one, so a machine that got busier or quieter meanwhile does not read as growth. Both services'
    tables grow together: the transaction service's transactions and the fraud service's predictions with
    their per-day customer and terminal totals (what a capture reads and writes on its way)."""
    small, big = run_.plan.table_sizes
    factory = capture_factory(run_.customers)
    runs: list[LoadResult] = []
    timings = {}
    for step, size in enumerate((small, big, small)):
        began = time.perf_counter()
        counts = growth.seed_tables(run_.stack, size, services=("transactions", "fraud"))
        timings[f"resize_{step}_to_{size}_rows_s"] = round(time.perf_counter() - began, 1)
        timings[f"rows_{step}"] = counts
        result = interleaved(run_.stack.url("transactions"), {"capture": factory}, rounds=run_.plan.growth_rounds,
                             time_budget=run_.plan.duration * 2, expect={"capture": 201})["capture"]
        result.label = f"tables {size:,} rows" + (" (again)" if step == 2 else "")
        runs.append(result)
    run_.checks.append(_growth_check(
        f"capture latency, transaction + fraud tables {small:,} → {big:,} rows (median ×)",
        combined([runs[0], runs[2]], f"tables {small:,} rows (both runs)"), runs[1], (small, big)))
    return {**timings, "runs": [result.summary() for result in runs]}


def phase_console(run_: Run) -> dict:
    """The analyst console's reads with the transactions table small, big, then small again (as
    growth_table; the seeded rows are shaped like traffic: blocked, review band, labels): the first queue
    page with its counts, the same filtered to unlabelled BLOCKED ones, and the threshold what-if."""
    small, big = run_.plan.table_sizes
    headers = run_.staff.headers

    def get(path: str, **params):
        return lambda i: ("GET", path, {"params": params, "headers": headers})

    factories = {"queue page": get("/staff/queue", limit=25),
                 "queue page, unlabelled blocked": get("/staff/queue", limit=25, status="BLOCKED", label="none"),
                 "what-if": get("/staff/what-if")}
    runs: dict[str, list[LoadResult]] = {label: [] for label in factories}
    timings = {}
    for step, size in enumerate((small, big, small)):
        began = time.perf_counter()
        rows = growth.seed_transaction_table(run_.stack, size)
        timings[f"resize_{step}_to_{rows}_rows_s"] = round(time.perf_counter() - began, 1)
        results = interleaved(run_.stack.url("transactions"), factories, rounds=run_.plan.growth_rounds,
                              time_budget=run_.plan.duration * 2, expect=dict.fromkeys(factories, 200))
        for label, result in results.items():
            result.label = f"{label}, table {rows:,} rows" + (" (again)" if step == 2 else "")
            runs[label].append(result)
    for label, (before, during, after) in runs.items():
        run_.checks.append(_growth_check(
            f"console {label} latency, transactions table {small:,} → {big:,} rows (median ×)",
            combined([before, after], f"{label}, table {small:,} rows (both runs)"), during, (small, big),
            target="console_growth"))
    return {**timings, "runs": [result.summary() for results in runs.values() for result in results]}


def soak_growth(samples: list[dict], warm_up: float) -> dict[str, dict[str, float]]:
    """Each service's growth by memory kind, from the first sample after the warm-up to the last."""
    baseline = next(sample for sample in samples if sample["t"] >= warm_up)
    final = samples[-1]
    return {name: {kind: (final[name][kind] - size) / size for kind, size in kinds.items() if size}
            for name, kinds in baseline.items() if name != "t"}


def phase_memory(run_: Run) -> dict:
    """Memory after everything above, then a soak at a steady rate: captures plus token-checked reads of the
    auth service. The first SOAK_WARM_UP_SHARE of the load is warm-up (thread pools and connection pools
    fill to what this rate needs); growth is the last sample over the first one after it.

    The target is judged on anonymous memory, the processes' own (a leak shows there), with RSS beside it:
    RSS also counts the resident pages of the SQLite database read through ``mmap_size``, which grow with the
    file the soak keeps writing and belong to the kernel's page cache (reclaimable, shared), not the process."""
    after_run = run_.memory_mib()
    rate = soak_rate(run_.phases)
    seconds = run_.plan.soak_seconds
    warm_up = seconds * SOAK_WARM_UP_SHARE
    me = run_.customers[0].headers

    async def soak():
        import asyncio

        samples: list[dict] = []

        async def sample():
            for _ in range(int((warm_up + seconds) / 5) + 2):
                samples.append({"t": round(time.perf_counter() - began, 1), **run_.memory_mib()})
                await asyncio.sleep(5)

        began = time.perf_counter()
        sampler = asyncio.create_task(sample())
        capture, auth = await asyncio.gather(
            open_loop(run_.stack.url("transactions"), capture_factory(run_.customers), rate=rate,
                      duration=warm_up + seconds,
                      max_in_flight=run_.plan.concurrency * 4, expect=201, label="soak capture"),
            open_loop(run_.stack.url("auth"), lambda i: ("GET", "/api/auth/me/", {"headers": me}), rate=5,
                      duration=warm_up + seconds, max_in_flight=4, label="soak auth /me"))
        sampler.cancel()
        return samples, capture, auth

    samples, capture, auth = run(soak())
    growths = soak_growth(samples, warm_up)
    baseline = next(sample for sample in samples if sample["t"] >= warm_up)
    final = samples[-1]
    errors = capture.errors + auth.errors
    run_.checks.append(report.check(
        "5", "resident memory after the run (MiB)", None, "reported", None,
        ", ".join(f"{name} {kinds['rss']:.0f} (anonymous {kinds['anon']:.0f})" for name, kinds in after_run.items())))
    worst = max(growths, key=lambda name: growths[name]["anon"])
    limit = TARGETS["soak_memory_growth"]

    def moved(kind: str) -> str:
        return ", ".join(f"{n} {baseline[n][kind]:.0f}→{final[n][kind]:.0f}" for n in growths)

    run_.checks.append(report.check(
        "5", f"anonymous memory growth over a {seconds:.0f} s soak after {warm_up:.0f} s warm-up (worst service)",
        round(growths[worst]["anon"], 4),
        f"≤ {limit:.0%}", growths[worst]["anon"] <= limit and errors == 0,
        f"anonymous MiB {moved('anon')}; {capture.ok:,} captures at {rate:.0f}/s, errors {errors}"))
    worst_rss = max(growths, key=lambda name: growths[name]["rss"])
    run_.checks.append(report.check(
        "5", "RSS growth over the same soak (worst service; includes the mapped database file's pages)",
        round(growths[worst_rss]["rss"], 4), "reported", None,
        f"RSS MiB {moved('rss')}; of it mapped files {moved('file')}"))
    return {"memory_after_run_mib": after_run, "samples": samples, "growth": growths,
            "capture": capture.summary(), "auth": auth.summary()}


def phase_training(run_: Run) -> dict:
    out = run_.work_dir / "training"
    trained = training.time_default_training(out, list(run_.plan.training_args))
    shutil.rmtree(out, ignore_errors=True)
    featurised = training.time_featurising(**run_.plan.featurise)
    run_.checks += [
        report.check("6", "train the default model (s)", trained["seconds"], "reported", None,
                     "`ml_model/train_model.py` " + (" ".join(run_.plan.training_args) or "defaults")),
        report.check("6", f"featurise {featurised['transactions']:,} simulated transactions (s)",
                     featurised["featurise_seconds"], "reported", None,
                     f"{featurised['transactions_per_second']:,} tx/s; simulating took "
                     f"{featurised['simulate_seconds']} s"),
    ]
    return {"default_training": trained, "featurising": featurised}


PHASES: dict[str, Callable[[Run], dict]] = {
    "scoring": phase_scoring,
    "fraud_overhead": phase_fraud_overhead,
    "batch": phase_batch,
    "capture": phase_capture,
    "growth_history": phase_growth_history,
    "growth_table": phase_growth_table,
    "console": phase_console,
    "memory": phase_memory,
    "training": phase_training,  # last, with the services stopped, so it has the machine to itself
}
NEEDS_STACK = {"fraud_overhead", "batch", "capture", "growth_history", "growth_table", "console", "memory"}


def run_phase(run_: Run, name: str) -> None:
    began = time.perf_counter()
    print(f"[bench] {name} ...", flush=True)
    try:
        run_.phases[name] = PHASES[name](run_)
    except Exception as exc:  # one broken phase must not hide the others' numbers
        traceback.print_exc()
        run_.phases[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    run_.phases[name]["elapsed_s"] = round(time.perf_counter() - began, 1)
    print(f"[bench] {name} done in {run_.phases[name]['elapsed_s']} s", flush=True)


# Tokens must outlive the whole run; the default 5 minutes would expire mid-soak. Per-user rate limits off: ten
# customers send every capture of the load runs, far beyond what one person does (the limits are a defence,
# not part of what is measured).
STACK_SETTINGS = {"ACCESS_TOKEN_LIFETIME_MINUTES": "240", "LOG_LEVEL": "WARNING",
                  "RATE_LIMIT_CAPTURES_PER_MINUTE": "0", "RATE_LIMIT_LISTINGS_PER_MINUTE": "0"}


def started_stack(data_dir: Path, model_dir: Path, database_urls: dict[str, str], workers: int = 1,
                  settings: dict[str, str] | None = None) -> LocalStack:
    """The three services with the benchmark's settings (and ``settings`` on top), migrated and started; stopped
    again if any of them does not start."""
    stack = LocalStack(data_dir=data_dir, model_dir=model_dir, database_urls=database_urls, workers=workers,
                       extra_env={**STACK_SETTINGS, **(settings or {})})
    try:
        stack.manage("migrate", "--noinput")
        stack.start_all()
    except BaseException:
        stack.stop_all()
        raise
    return stack


def fresh_postgres(server_url: str) -> tuple[PostgresDatabases, AutovacuumStandIn | None]:
    """Fresh databases for the three services on ``server_url`` and, when the server runs without autovacuum,
    the stand-in doing its work (bench/autovacuum.py). Undone by ``drop_postgres``."""
    databases = PostgresDatabases(server_url, ["auth", "transactions", "fraud"])
    databases.create()
    try:
        autovacuum = None if server_autovacuums(server_url) else AutovacuumStandIn(list(databases.urls().values()))
    except BaseException:
        databases.drop()
        raise
    return databases, autovacuum.start() if autovacuum else None


def drop_postgres(databases: PostgresDatabases | None, autovacuum: AutovacuumStandIn | None) -> None:
    if autovacuum:
        autovacuum.stop()
    if databases:
        databases.drop()


def start_stack(run_: Run, database_urls: dict[str, str]) -> None:
    run_.stack = started_stack(run_.work_dir / "data", run_.args.model_dir, database_urls, run_.args.workers)
    run_.staff = staff_caller(run_.stack)
    run_.customers = register_customers(run_.stack, 10)


def meta(args: argparse.Namespace, started: datetime, load_at_start: float, status: str, selected: list[str],
         phases: dict[str, dict], autovacuum: AutovacuumStandIn | None = None) -> dict:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip() or "unknown"
    mem_gib = round(int(Path("/proc/meminfo").read_text().split()[1]) / 2**20)
    return {
        "commit": commit, "python": platform.python_version(),
        "machine": f"{os.cpu_count()} cores, {mem_gib} GiB, {platform.system()} {platform.release()}",
        "database": "PostgreSQL" if args.postgres else "SQLite", "quick": args.quick, "workers": args.workers,
        "started_at": started.isoformat(timespec="seconds"),
        # "complete" only once every selected phase has run; "running" while it goes, and what stopped it
        # otherwise, so neither a reader nor `report.py combine` takes a broken run's file for a whole one.
        "status": status, "phases_selected": selected, "phases_skipped": args.skip,
        "phases_not_run": [name for name in selected if name not in phases],
        # Other work on a shared machine shifts absolute numbers; the ratios are taken side by side for that.
        "load_average_at_start": load_at_start, "load_average_at_end": os.getloadavg()[0],
        # PostgreSQL only: tables analysed and vacuumed by bench/autovacuum.py (None: the server's autovacuum).
        "autovacuum_stand_in": dict(autovacuum.done) if autovacuum else None,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "arguments": {k: str(v) for k, v in vars(args).items()},
    }


class Interrupted(BaseException):
    """SIGINT or SIGTERM (Ctrl-C, a timeout's kill) during the run: unwinds like KeyboardInterrupt, through
    the stack's and the databases' clean-up, to the last write of the results."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum: int, _frame) -> None:
    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    started, load_at_start = datetime.now(UTC), os.getloadavg()[0]
    args.out.mkdir(parents=True, exist_ok=True)
    run_ = Run(args=args, plan=plan, work_dir=Path(tempfile.mkdtemp(prefix="run-", dir=args.out)))
    selected = [name for name in args.only or PHASES if name not in args.skip]

    def save(status: str) -> dict:
        results = {"meta": meta(args, started, load_at_start, status, selected, run_.phases, run_.autovacuum),
                   "plan": vars(plan),
                   "targets": TARGETS, "checks": run_.checks, "phases": run_.phases}
        report.write(results, args.out, run_.plotted)
        return results

    status = "complete"
    handlers = {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        # At once, over any earlier run's files: from here on a crash leaves this run's partial results.
        save("running")
        try:
            if NEEDS_STACK & set(selected):
                if args.postgres:
                    run_.databases, run_.autovacuum = fresh_postgres(args.postgres)
                start_stack(run_, run_.databases.urls() if run_.databases else {})
            for name in selected:
                if name == "training" and run_.stack:
                    run_.stack.stop_all()
                run_phase(run_, name)
                save("running")
        finally:
            if run_.stack:
                run_.stack.stop_all()
            drop_postgres(run_.databases, run_.autovacuum)
    except Interrupted as exc:
        status = f"interrupted by {exc}"
    except Exception as exc:  # the stack or the databases did not start: no phase can run
        traceback.print_exc()
        status = f"failed: {type(exc).__name__}: {exc}"[:500]
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    results = save(status)
    print(report.markdown(results))
    print(f"written to {args.out}: results.json, results.md, latency.png ({status})")
    failed_phases = [n for n, p in run_.phases.items() if "error" in p]
    if status == "complete" and not failed_phases:
        shutil.rmtree(run_.work_dir, ignore_errors=True)  # logs are kept only when something broke
        return 0
    return 128 + signal.SIGINT if status == f"interrupted by {signal.SIGINT.name}" else 1


if __name__ == "__main__":
    sys.exit(main())
