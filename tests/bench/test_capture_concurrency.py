"""scripts/bench/capture_concurrency.py against the real stack: one row per concurrency, read from the services."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts/bench/capture_concurrency.py"


def test_each_concurrency_gets_its_row_from_the_services():
    out = subprocess.run([sys.executable, str(SCRIPT), "--connections", "2", "8", "--duration", "1"],
                         capture_output=True, text=True, timeout=240, check=True).stdout
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [dict(zip(header, (float(cell) for cell in line.strip("|").split("|")), strict=True)) for line in lines[1:]]
    assert [row["connections"] for row in rows] == [2, 8]
    for row in rows:
        assert row["captures/s"] > 0 and row["errors"] == 0 and row["fallback"] == 0, row
        assert row["fraud cores"] > 0 and row["transactions cores"] > 0 and row["fraud busy in calls"] > 0, row
    # Two connections: at most one capture queues behind the call in flight, and one queued goes alone.
    assert rows[0]["transactions per scoring call"] == 1
    assert rows[1]["transactions per scoring call"] > 1  # eight: the queue goes out as batches
