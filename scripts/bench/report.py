"""results.json, the markdown table and the latency plot; and several runs' results side by side:

    python scripts/bench/report.py combine bench/sqlite/results.json bench/postgres/results.json [...]

prints one markdown table, a column per run (SQLite | PostgreSQL | ..., WORKERS=N when not 1), for the
README (`make bench-all` runs the set and writes bench/combined.md). A run that did not finish (its
meta.status is not "complete") is marked in its column and makes the command fail; with ``--since TIME`` a
file from a run started before TIME (a run that died before writing left an earlier one behind) is refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/ is a package of scripts/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # no display on CI or over SSH
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bench.loadgen import LoadResult  # noqa: E402

MET = {True: "", False: " **✗**", None: ""}


def check(item: str, measure: str, value: float | None, target: str, met: bool | None, detail: str = "") -> dict:
    """One row of the results table. ``met`` None means no target (an informative number)."""
    return {"item": item, "measure": measure, "value": value, "target": target, "met": met, "detail": detail}


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _workers(meta: dict[str, Any]) -> str:
    """"WORKERS=2, " when the services ran several workers (runs before --workers had one)."""
    return f"WORKERS={meta['workers']}, " if meta.get("workers", 1) != 1 else ""


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"Benchmark of {meta['commit']} on {meta['machine']} (Python {meta['python']}, "
        f"{meta['database']}, {_workers(meta)}{'quick' if meta['quick'] else 'full'} run, {meta['finished_at']}; "
        f"1-minute load average {meta.get('load_average_at_start', 0):.1f} at start, "
        f"{meta.get('load_average_at_end', 0):.1f} at end).",
        "",
        "| # | measure | result | target | met | detail |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["checks"]:
        met = {True: "yes", False: "**no**", None: "–"}[row["met"]]
        lines.append(f"| {row['item']} | {row['measure']} | {_cell(row['value'])} | {row['target']} | {met} "
                     f"| {row['detail']} |")
    failed = [name for name, phase in results["phases"].items() if "error" in phase]
    if failed:
        lines += ["", "Phases that failed: " + ", ".join(f"{n} ({results['phases'][n]['error']})" for n in failed)]
    if incomplete(meta):
        lines += ["", f"**Incomplete run** ({meta.get('status', 'no status recorded')}); phases not run: "
                      f"{', '.join(meta.get('phases_not_run', [])) or 'unknown'}."]
    return "\n".join(lines) + "\n"


def incomplete(meta: dict[str, Any]) -> bool:
    """True unless the run recorded that every phase it was asked for ran (files from before runs
    recorded a status count as incomplete: nothing says they finished)."""
    return meta.get("status") != "complete"


def latency_plot(runs: list[LoadResult], path: Path, title: str) -> None:
    """Latency by percentile (log scale), one line per run: the tail is where the runs differ."""
    fig, ax = plt.subplots(figsize=(9, 5))
    quantiles = np.array([0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100])
    for run in runs:
        if run.latencies_s:
            values = np.percentile(np.asarray(run.latencies_s) * 1000.0, quantiles)
            ax.plot(range(len(quantiles)), values, marker="o", label=f"{run.label} ({run.throughput:.0f} req/s)")
    ax.set_xticks(range(len(quantiles)), [f"p{q:g}" for q in quantiles])
    ax.set_yscale("log")
    ax.set_ylabel("latency from scheduled send (ms)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if ax.lines:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")  # given: write() saves under a temporary name first
    plt.close(fig)


def _replace(path: Path, write) -> None:
    """Write through a temporary file and rename it over ``path``: a reader (or a run killed mid-write)
    sees the previous whole file or the new whole file, never half of one."""
    partial = path.with_name(f".{path.name}.partial")
    write(partial)
    os.replace(partial, path)


def write(results: dict[str, Any], out_dir: Path, runs: list[LoadResult]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "results.json", out_dir / "results.md", out_dir / "latency.png"]
    _replace(paths[0], lambda path: path.write_text(json.dumps(results, indent=2, default=str) + "\n"))
    _replace(paths[1], lambda path: path.write_text(markdown(results)))
    _replace(paths[2], lambda path: latency_plot(
        runs, path, "POST /transactions vs trivial FastAPI endpoint, open loop at 70% of max"))
    return paths


def column_name(meta: dict[str, Any]) -> str:
    return f"{meta['database']}{', ' + _workers(meta).rstrip(', ') if _workers(meta) else ''}" + (
        " (quick)" if meta.get("quick") else "") + (" **incomplete**" if incomplete(meta) else "")


def combine(runs: list[dict[str, Any]]) -> str:
    """One table, a row per measure (in the order the runs first report them), a column per run; a value
    that misses its target is marked ✗. A run that did not report a measure shows –. Details stay in each
    run's own results.md."""
    metas = [run["meta"] for run in runs]
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for column, run in enumerate(runs):
        for check_ in run["checks"]:
            row = rows.setdefault((check_["item"], check_["measure"]), {"target": check_["target"], "cells": {}})
            # A reported figure without a single value (memory per service, load generator CPU) is its detail.
            value = check_["detail"] if check_["value"] is None and check_["detail"] else _cell(check_["value"])
            row["cells"][column] = value + MET[check_["met"]]
    notes = _postgres_over_sqlite(runs, rows)
    commits = sorted({meta["commit"] for meta in metas})
    lines = [
        f"Benchmark of {', '.join(commits)} on {metas[0]['machine']} (Python {metas[0]['python']}; "
        + "; ".join(f"{column_name(meta)} {meta['finished_at']}, load average "
                    f"{meta.get('load_average_at_start', 0):.1f} → {meta.get('load_average_at_end', 0):.1f}"
                    for meta in metas) + ").",
        "",
        "| # | measure | target | " + " | ".join(column_name(meta) for meta in metas) + " |",
        "|---|---|---|" + "---|" * len(metas),
    ]
    for (item, measure), row in rows.items():
        cells = [row["cells"].get(column, "–") for column in range(len(runs))]
        lines.append(f"| {item} | {measure} | {row['target']} | " + " | ".join(cells) + " |")
    skipped = [f"{column_name(meta)}: {', '.join(meta['phases_skipped'])}" for meta in metas
               if meta.get("phases_skipped")]
    notes += ["Phases left out (their rows show –): " + "; ".join(skipped)] if skipped else []
    lines += ["", *notes] if notes else []
    failed = [f"{column_name(run['meta'])}: {name} ({phase['error'][:200]})"
              for run in runs for name, phase in run["phases"].items() if "error" in phase]
    if failed:
        lines += ["", "Phases that failed: " + "; ".join(failed)]
    unfinished = [f"{column_name(meta)}: {meta.get('status', 'no status recorded')}, phases not run: "
                  f"{', '.join(meta.get('phases_not_run', [])) or 'unknown'}" for meta in metas if incomplete(meta)]
    if unfinished:
        lines += ["", "Incomplete runs (their figures are partial): " + "; ".join(unfinished)]
    return "\n".join(lines) + "\n"


POSTGRES_OVER_SQLITE = 0.8  # issue 17 §5: PostgreSQL capture throughput, WORKERS=1, against SQLite's


def _capture_rates(run: dict[str, Any]) -> tuple[float, float] | None:
    """(capture max req/s, trivial max req/s) of a run's capture phase, if it has both."""
    phase = run["phases"].get("capture", {})
    try:
        return phase["capture"]["max"]["throughput_rps"], phase["trivial"]["max"]["throughput_rps"]
    except (KeyError, TypeError):
        return None


def _postgres_over_sqlite(runs: list[dict[str, Any]], rows: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """The one target that spans two runs: PostgreSQL's capture throughput with WORKERS=1 against SQLite's.
    Adds its row (the value in the PostgreSQL column) and returns the note that says how it was taken."""
    single = {run["meta"]["database"]: (column, run) for column, run in enumerate(runs)
              if run["meta"].get("workers", 1) == 1 and _capture_rates(run)}
    if not {"SQLite", "PostgreSQL"} <= single.keys():
        return []
    (_, sqlite), (column, postgres) = single["SQLite"], single["PostgreSQL"]
    (pg, pg_trivial), (lite, lite_trivial) = _capture_rates(postgres), _capture_rates(sqlite)
    ratio = pg / lite
    rows[("5", "capture max throughput, PostgreSQL ÷ SQLite (WORKERS=1)")] = {
        "target": f"≥ {POSTGRES_OVER_SQLITE:g}",
        "cells": {column: _cell(round(ratio, 2)) + MET[ratio >= POSTGRES_OVER_SQLITE]}}
    # Two runs minutes apart on a shared machine: each against its own run's trivial reference too, which the
    # machine's drift between the runs moves alike.
    return [f"PostgreSQL ÷ SQLite capture throughput: {pg:.0f} vs {lite:.0f} req/s from two runs (started "
            f"{postgres['meta'].get('started_at', '?')} and {sqlite['meta'].get('started_at', '?')}); as shares of "
            f"each run's trivial endpoint {pg / pg_trivial:.3f} vs {lite / lite_trivial:.3f}, "
            f"{(pg / pg_trivial) / (lite / lite_trivial):.2f}×."]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Several benchmark runs side by side, as one markdown table.")
    sub = parser.add_subparsers(dest="command", required=True)
    combined = sub.add_parser("combine", help="results.json files, one column each, in this order")
    combined.add_argument("results", nargs="+", type=Path)
    combined.add_argument("--out", type=Path, help="also write the table here")
    combined.add_argument("--since", type=datetime.fromisoformat, metavar="TIME",
                          help="refuse results of runs started before this ISO 8601 time (with its offset)")
    args = parser.parse_args(argv)
    missing = [str(path) for path in args.results if not path.exists()]
    if missing:
        parser.error("no such results: " + ", ".join(missing))
    runs = [json.loads(path.read_text()) for path in args.results]
    if args.since:
        stale = [f"{path} (started {run['meta']['started_at']})" for path, run in zip(args.results, runs, strict=True)
                 if datetime.fromisoformat(run["meta"]["started_at"]) < args.since]
        if stale:
            parser.error(f"results from before {args.since.isoformat()}, left by an earlier run: " + ", ".join(stale))
    table = combine(runs)
    if args.out:
        args.out.write_text(table)
    print(table, end="")
    return 1 if any(incomplete(run["meta"]) for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
