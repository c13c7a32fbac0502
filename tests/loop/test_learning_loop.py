"""The learning loop of issue 15 over the real processes, as a user runs it (`make loop`, smaller): simulated
captures through the public API, staff labels, export, a hybrid challenger trained on them, loaded in shadow while
captures flow, compared, promoted while captures flow, reloaded, and new captures stamped with the new model.
On PostgreSQL when POSTGRES_URL is set (make test-postgres)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_whole_loop_promotes_a_retrained_challenger_without_a_failed_capture(tmp_path):
    summary_path = tmp_path / "loop.json"
    command = [sys.executable, str(ROOT / "scripts" / "learning_loop.py"), "--quick", "--json", str(summary_path)]
    if os.environ.get("POSTGRES_URL"):
        command += ["--postgres", os.environ["POSTGRES_URL"]]

    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    summary = json.loads(summary_path.read_text())
    assert summary["backend"] == ("postgresql" if os.environ.get("POSTGRES_URL") else "sqlite")
    assert summary["failed_captures"] == 0 and summary["captures"] > 10_000
    champion, challenger = summary["champion_version"], summary["challenger_version"]
    assert champion != challenger and summary["challenger_kind"] == "hybrid"
    comparison = summary["comparison"]
    assert comparison["challenger"]["model_version"] == challenger
    assert comparison["frauds"] > 0 and comparison["labelled"] > comparison["frauds"]
    for side in ("champion", "challenger"):
        assert 0 <= comparison[side]["roc_auc"] <= 1 and 0 <= comparison[side]["average_precision"] <= 1
    # Every capture after the promotion was decided by the promoted model; the service serves it.
    assert summary["final_versions"]["after"] == {challenger: summary["final_versions"]["after"][challenger]}
    assert set(summary["final_versions"]["during_promotion"]) <= {champion, challenger}
    assert summary["served_model"] == challenger
