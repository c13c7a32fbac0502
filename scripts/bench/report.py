"""results.json, the markdown table and the latency plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on CI or over SSH
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bench.loadgen import LoadResult  # noqa: E402


def check(item: str, measure: str, value: float | None, target: str, met: bool | None, detail: str = "") -> dict:
    """One row of the results table. ``met`` None means no target (an informative number)."""
    return {"item": item, "measure": measure, "value": value, "target": target, "met": met, "detail": detail}


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"Benchmark of {meta['commit']} on {meta['machine']} (Python {meta['python']}, "
        f"{meta['database']}, {'quick' if meta['quick'] else 'full'} run, {meta['finished_at']}; "
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
    return "\n".join(lines) + "\n"


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
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: dict[str, Any], out_dir: Path, runs: list[LoadResult]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "results.json", out_dir / "results.md", out_dir / "latency.png"]
    paths[0].write_text(json.dumps(results, indent=2, default=str) + "\n")
    paths[1].write_text(markdown(results))
    latency_plot(runs, paths[2], "POST /transactions vs trivial FastAPI endpoint, open loop at 70% of max")
    return paths
