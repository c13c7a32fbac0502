"""benchmark.py keeps what a run measured when the run does not finish, and `report.py combine` does not
pass off a broken or an earlier run's results as this run's."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import bench.report as report  # noqa: E402
import benchmark  # noqa: E402


@pytest.fixture
def model_dir(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model_metadata.json").write_text("{}")  # parse_args only checks that a model is there
    return folder


def fake_phase(value: float):
    def phase(run_):
        run_.checks.append(report.check("6", "measured", value, "reported", None))
        return {"value": value}
    return phase


def read(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def test_each_phase_is_on_disk_before_the_next_one_runs(tmp_path, model_dir, monkeypatch):
    out = tmp_path / "out"
    seen = []

    def second(run_):
        seen.append(read(out))  # what a crash at this moment would leave
        return {}

    monkeypatch.setitem(benchmark.PHASES, "scoring", fake_phase(1.5))
    monkeypatch.setitem(benchmark.PHASES, "training", second)
    assert benchmark.main(["--only", "scoring", "training", "--out", str(out), "--model-dir", str(model_dir)]) == 0
    assert seen[0]["meta"]["status"] == "running"
    assert seen[0]["meta"]["phases_not_run"] == ["training"]
    assert seen[0]["phases"]["scoring"]["value"] == 1.5
    final = read(out)
    assert final["meta"]["status"] == "complete" and final["meta"]["phases_not_run"] == []
    assert not list(out.glob(".*.partial"))  # every file renamed into place


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_killed_run_keeps_its_results_and_says_it_is_incomplete(tmp_path, model_dir, monkeypatch, signum):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text(json.dumps({"meta": {"status": "complete"}, "phases": {"old": {}}}))

    def killed(run_):
        os.kill(os.getpid(), signum)  # what `timeout` or Ctrl-C does mid-phase
        return {}

    monkeypatch.setitem(benchmark.PHASES, "scoring", fake_phase(2.5))
    monkeypatch.setitem(benchmark.PHASES, "training", killed)
    code = benchmark.main(["--only", "scoring", "training", "--out", str(out), "--model-dir", str(model_dir)])
    assert code != 0
    results = read(out)
    assert results["meta"]["status"] == f"interrupted by {signal.Signals(signum).name}"
    assert results["meta"]["phases_not_run"] == ["training"]
    assert results["phases"]["scoring"]["value"] == 2.5 and "old" not in results["phases"]
    assert "**Incomplete run**" in (out / "results.md").read_text()
    assert signal.getsignal(signum) is not benchmark._interrupt  # the caller's handler is back


def test_a_stack_that_does_not_start_leaves_a_failed_run_not_an_earlier_one(tmp_path, model_dir, monkeypatch):
    out = tmp_path / "out"

    def no_stack(run_, urls):
        raise RuntimeError("transactions did not answer /health")

    monkeypatch.setattr(benchmark, "start_stack", no_stack)
    assert benchmark.main(["--only", "capture", "--out", str(out), "--model-dir", str(model_dir)]) == 1
    meta = read(out)["meta"]
    assert meta["status"].startswith("failed: RuntimeError: transactions did not answer")
    assert meta["phases_not_run"] == ["capture"]


def results_file(tmp_path: Path, name: str, started_at: str, status: str | None) -> Path:
    meta = {"commit": "abc", "machine": "2 cores", "python": "3.11", "database": name, "quick": False,
            "started_at": started_at, "finished_at": started_at, "phases_not_run": ["memory"]}
    if status is not None:
        meta["status"] = status
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"meta": meta, "checks": [report.check("3", "share", 0.3, "≥ 0.25", True)],
                                "phases": {}}))
    return path


def test_combine_refuses_results_older_than_the_runs_it_combines(tmp_path, capsys):
    fresh = results_file(tmp_path, "SQLite", "2026-11-26T15:00:05+00:00", "complete")
    stale = results_file(tmp_path, "PostgreSQL", "2026-11-25T09:00:00+00:00", "complete")
    with pytest.raises(SystemExit) as refused:
        report.main(["combine", str(fresh), str(stale), "--since", "2026-11-26T15:00:00+00:00"])
    assert refused.value.code == 2
    assert "PostgreSQL.json (started 2026-11-25T09:00:00+00:00)" in capsys.readouterr().err
    assert report.main(["combine", str(fresh), "--since", "2026-11-26T15:00:00+00:00"]) == 0


@pytest.mark.parametrize("status", ["running", "interrupted by SIGTERM", None])
def test_combine_marks_an_unfinished_run_and_fails(tmp_path, capsys, status):
    done = results_file(tmp_path, "SQLite", "2026-11-26T15:00:05+00:00", "complete")
    broken = results_file(tmp_path, "PostgreSQL", "2026-11-26T15:20:00+00:00", status)
    assert report.main(["combine", str(done), str(broken)]) == 1
    table = capsys.readouterr().out
    assert "| # | measure | target | SQLite | PostgreSQL **incomplete** |" in table
    assert f"PostgreSQL **incomplete**: {status or 'no status recorded'}, phases not run: memory" in table


def test_combine_puts_postgresql_capture_throughput_against_sqlites(tmp_path, capsys):
    def run_with(database: str, workers: int, capture: float, trivial: float) -> Path:
        path = results_file(tmp_path, f"{database}-{workers}", "2026-11-26T15:00:05+00:00", "complete")
        results = json.loads(path.read_text())
        results["meta"].update(database=database, workers=workers)
        results["phases"]["capture"] = {"capture": {"max": {"throughput_rps": capture}},
                                        "trivial": {"max": {"throughput_rps": trivial}}}
        path.write_text(json.dumps(results))
        return path

    paths = [run_with("SQLite", 1, 200.0, 4000.0), run_with("PostgreSQL", 1, 150.0, 3000.0),
             run_with("PostgreSQL", 2, 400.0, 6000.0)]
    assert report.main(["combine", *map(str, paths)]) == 0
    table = capsys.readouterr().out
    # 150 / 200: under the 80 % of the issue, marked; the WORKERS=2 run is not what the target compares.
    assert "| 5 | capture max throughput, PostgreSQL ÷ SQLite (WORKERS=1) | ≥ 0.8 | – | 0.75 **✗** | – |" in table
    assert "as shares of each run's trivial endpoint 0.050 vs 0.050, 1.00×" in table


def test_skipped_phases_are_left_out_and_said_so(tmp_path, model_dir, monkeypatch, capsys):
    out = tmp_path / "out"
    ran = []
    monkeypatch.setitem(benchmark.PHASES, "scoring", lambda run_: ran.append("scoring") or {})
    monkeypatch.setitem(benchmark.PHASES, "training", lambda run_: ran.append("training") or {})
    argv = ["--only", "scoring", "training", "--skip", "training", "--out", str(out), "--model-dir", str(model_dir)]
    assert benchmark.main(argv) == 0
    assert ran == ["scoring"]
    meta = read(out)["meta"]
    assert meta["status"] == "complete" and meta["phases_skipped"] == ["training"]
    capsys.readouterr()
    assert report.main(["combine", str(out / "results.json")]) == 0
    assert "Phases left out (their rows show –): SQLite: training" in capsys.readouterr().out


def test_relative_folders_are_made_absolute_for_the_services_and_seeders(tmp_path, model_dir, monkeypatch):
    # The services start in their own folders and the seeders in the caller's: a relative data folder
    # would name two different databases (make bench-all passes --out bench/sqlite).
    monkeypatch.chdir(tmp_path)
    args = benchmark.parse_args(["--out", "bench/sqlite", "--model-dir", model_dir.name])
    assert args.out == tmp_path / "bench" / "sqlite"
    assert args.model_dir == model_dir
