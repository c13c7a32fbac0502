"""The benchmark's load generator against the reference FastAPI app served by a real uvicorn process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import bench.report as report  # noqa: E402
from bench.loadgen import LoadResult, interleaved, open_loop, run  # noqa: E402
from bench.processes import group_memory, group_stats, serve_trivial, stop_group  # noqa: E402
from stack import free_port  # noqa: E402

BODY = {"amount": "12.50", "currency": "EUR", "terminal_id": "T-1"}


def capture(i: int):
    return "POST", "/transactions", {"json": BODY}


@pytest.fixture(scope="module")
def trivial(tmp_path_factory):
    port = free_port()
    process = serve_trivial(port, workers=1, log_path=tmp_path_factory.mktemp("trivial") / "trivial.log")
    yield process, f"http://127.0.0.1:{port}"
    stop_group(process)


def test_open_loop_charges_queueing_to_the_request_that_waited(trivial):
    # One connection, scheduled far faster than it can answer: each request waits for all the earlier
    # ones, so latencies measured from the scheduled send grow along the run and dwarf one round trip.
    _, url = trivial
    service = interleaved(url, {"one": capture}, rounds=50, time_budget=10, expect={"one": 201})["one"]
    result = run(open_loop(url, capture, rate=5 * service.throughput, duration=1.0, max_in_flight=1, expect=201))
    assert result.errors == 0 and result.ok == int(5 * service.throughput * 1.0)
    assert result.latencies_s[-1] > result.latencies_s[0]
    assert result.percentile_ms(99) > 10 * service.percentile_ms(50)


def test_open_loop_sends_on_its_schedule_and_not_before(trivial):
    _, url = trivial
    result = run(open_loop(url, capture, rate=50, duration=1.0, max_in_flight=8, expect=201))
    assert result.ok == 50 and result.errors == 0 and result.target_rate == 50
    # The 50th send is scheduled 49/50 s after the first: a run that ended sooner did not pace its sends.
    assert result.duration_s >= 49 / 50


def test_unexpected_statuses_are_errors_not_latencies(trivial):
    _, url = trivial
    kinds = {"missing": lambda i: ("GET", "/nowhere", {}), "health": lambda i: ("GET", "/health", {})}
    results = interleaved(url, kinds, rounds=5, time_budget=10, expect={"missing": 200, "health": 200})
    assert results["missing"].errors == 5 and results["missing"].ok == 0 and results["missing"].statuses[404] == 5
    assert results["health"].ok == 5 and results["health"].errors == 0


def test_refused_connections_are_counted_as_errors():
    result = run(open_loop(f"http://127.0.0.1:{free_port()}", capture, rate=20, duration=0.5, max_in_flight=2,
                           expect=201))
    assert result.ok == 0 and result.errors == 10 and result.statuses["ClientConnectorError"] == 10


def test_service_memory_is_read_from_its_process_group(trivial):
    process, _ = trivial
    rss, cpu = group_stats(process.pid)
    assert 20 * 2**20 < rss < 1024 * 2**20  # a Python web server, not zero and not the whole machine
    assert cpu > 0


def test_service_memory_by_kind_adds_up_to_its_rss(trivial):
    process, _ = trivial
    memory = group_memory(process.pid)
    assert 10 * 2**20 < memory["anon"] < memory["rss"]  # the interpreter's own heap, and mapped libraries beside it
    assert memory["file"] > 0 and memory["anon"] + memory["file"] <= memory["rss"]
    assert abs(memory["rss"] - group_stats(process.pid)[0]) < 0.1 * memory["rss"]  # sampled a moment apart


def test_a_mapped_file_read_by_a_service_counts_as_file_pages_not_its_own_memory(tmp_path):
    """What the soak's SQLite databases do through mmap_size: reading a mapped file makes it resident."""
    data = tmp_path / "db"
    data.write_bytes(os.urandom(64 * 2**20))
    reader = ("import mmap, sys, time\n"
              "f = open(sys.argv[1], 'rb'); m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)\n"
              "sum(m[i] for i in range(0, len(m), 4096)); print('read', flush=True); time.sleep(60)\n")
    process = subprocess.Popen([sys.executable, "-c", reader, str(data)], stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        assert process.stdout.readline().strip() == "read"
        memory = group_memory(process.pid)
        assert memory["file"] >= 60 * 2**20  # the 64 MiB file, resident in the process's mapping
        assert memory["anon"] < 40 * 2**20  # not counted as the interpreter's own memory
    finally:
        process.kill()
        process.wait()


def test_soak_growth_is_per_kind_from_the_first_sample_after_the_warm_up():
    import benchmark

    def sample(t: float, anon: float, file: float) -> dict:
        return {"t": t, "transactions": {"rss": anon + file, "anon": anon, "file": file}}

    samples = [sample(0, 80, 20), sample(10, 100, 30), sample(20, 101, 45), sample(30, 102, 60)]
    growth = benchmark.soak_growth(samples, warm_up=10)["transactions"]
    assert growth["anon"] == 0.02  # 100 -> 102: the warm-up's 80 is not the baseline
    assert growth["file"] == 1.0 and round(growth["rss"], 3) == round(32 / 130, 3)


def test_report_marks_missed_targets_and_failed_phases(tmp_path):
    results = {
        "meta": {"commit": "abc", "machine": "2 cores", "python": "3.11", "database": "SQLite", "quick": True,
                 "finished_at": "now"},
        "checks": [report.check("3", "share", 0.2, "≥ 0.25", False),
                   report.check("6", "train (s)", 40.0, "reported", None)],
        "phases": {"capture": {}, "memory": {"error": "RuntimeError: boom"}},
    }
    run_ = LoadResult(label="x", duration_s=1.0, latencies_s=[0.001, 0.002, 0.004])
    written = report.write(results, tmp_path, [run_])
    table = (tmp_path / "results.md").read_text()
    assert "| 3 | share | 0.2 | ≥ 0.25 | **no** |" in table
    assert "| 6 | train (s) | 40 | reported | – |" in table
    assert "memory (RuntimeError: boom)" in table
    assert all(path.stat().st_size > 0 for path in written)


def test_phase_results_are_plain_json_that_the_soak_reads_its_rate_from():
    import benchmark
    from bench.wrk import WrkResult

    peak = WrkResult(label="max", duration_s=2.0, statuses=Counter({201: 400}), latency_ms={"p99": 3.0})
    loaded = LoadResult(label="70%", duration_s=1.0, latencies_s=[0.001])
    phases = {"capture": {"capture": benchmark.summarise({"max": peak, "at_fraction": loaded, "cpu": {"x": 1}})}}
    json.dumps(phases)  # results.json used to hold the WrkResult's repr, and the soak failed reading it
    assert benchmark.soak_rate(phases) == 100.0  # half of 200 req/s
    assert benchmark.soak_rate({}) == 50.0


def test_combined_report_puts_runs_side_by_side(tmp_path, capsys):
    def results(database: str, workers: int, share: float, phases: dict) -> Path:
        meta = {"commit": "abc", "machine": "2 cores", "python": "3.11", "database": database, "quick": False,
                "workers": workers, "finished_at": "now", "status": "complete"}
        checks = [report.check("3", "share", share, "≥ 0.25", share >= 0.25),
                  report.check("5", "memory (MiB)", None, "reported", None, "auth 98, fraud 230")]
        path = tmp_path / f"{database}-{workers}.json"
        path.write_text(json.dumps({"meta": meta, "checks": checks, "phases": phases}))
        return path

    paths = [results("SQLite", 1, 0.3, {}), results("PostgreSQL", 2, 0.2, {"growth_table": {"error": "boom"}})]
    assert report.main(["combine", *map(str, paths), "--out", str(tmp_path / "combined.md")]) == 0
    table = capsys.readouterr().out
    assert table == (tmp_path / "combined.md").read_text()
    assert "| # | measure | target | SQLite | PostgreSQL, WORKERS=2 |" in table
    assert "| 3 | share | ≥ 0.25 | 0.3 | 0.2 **✗** |" in table
    assert "| 5 | memory (MiB) | reported | auth 98, fraud 230 | auth 98, fraud 230 |" in table
    assert "PostgreSQL, WORKERS=2: growth_table (boom)" in table


def test_runs_taken_in_turns_are_reported_as_one():
    from bench.loadgen import combined

    first = LoadResult(label="a", duration_s=3.0, latencies_s=[0.001, 0.002], statuses=Counter({201: 2, 503: 1}),
                       target_rate=100.0, load_generator="wrk", client_cpu_s=0.1,
                       send_lag_ms={"p50": 0.1, "p99": 2.0, "max": 3.0}, behind_at_end=0)
    second = LoadResult(label="a", duration_s=3.0, latencies_s=[0.050], statuses=Counter({201: 1}),
                        target_rate=100.0, load_generator="wrk", client_cpu_s=0.2,
                        send_lag_ms={"p50": 0.2, "p99": 1.0, "max": 9.0}, behind_at_end=4)
    both = combined([first, second], "a at 70%")
    assert both.label == "a at 70%" and both.duration_s == 6.0
    assert sorted(both.latencies_s) == [0.001, 0.002, 0.050]  # a stall in one turn stays in the tail
    assert both.statuses == Counter({201: 3, 503: 1}) and both.errors == 1
    assert both.client_cpu_s == pytest.approx(0.3)
    assert both.send_lag_ms == {"p50": 0.2, "p99": 2.0, "max": 9.0} and both.behind_at_end == 4


def test_decisions_and_transactions_per_scoring_call_are_read_from_the_metrics(monkeypatch):
    """The capture phase reports how well the captures batched, from the transaction service's own histogram."""
    import benchmark
    from prometheus_client import CollectorRegistry, Histogram, generate_latest
    from prometheus_client import Counter as Counted

    def metrics(calls: list[int], model: int) -> str:
        registry = CollectorRegistry()  # the families the transaction service exports, under their names
        decisions = Counted("transaction_decisions", "", ["status", "decided_by"], registry=registry)
        decisions.labels("APPROVED", "model").inc(model - 1)
        decisions.labels("BLOCKED", "model").inc(1)
        rows = Histogram("transaction_fraud_call_transactions", "", buckets=(1, 2, 5, 10, 20), registry=registry)
        for n in calls:
            rows.observe(n)
        return generate_latest(registry).decode()

    pages = iter([metrics([1, 3], model=4), metrics([1, 3, 8, 8, 2], model=22)])
    monkeypatch.setattr(benchmark.httpx, "get", lambda *a, **k: SimpleNamespace(text=next(pages)))
    before, after = benchmark.decisions_by("http://x"), benchmark.decisions_by("http://x")
    assert after["model"] - before["model"] == 18 and after["fallback"] == 0
    assert benchmark.transactions_per_call(after - before) == 6.0  # 18 transactions in 3 calls
    assert benchmark.transactions_per_call(before - before) == 0.0  # no call: no division by zero
