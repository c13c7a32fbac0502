"""scripts/bench/predict_stages.py on the real service: every stage of a prediction is timed and reported."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts/bench/predict_stages.py"


def test_every_stage_of_a_paced_prediction_is_reported():
    out = subprocess.run([sys.executable, str(SCRIPT), "--requests", "30", "--gap", "0.001"], capture_output=True,
                         text=True, timeout=180, check=True).stdout
    medians = {name.strip(): (float(us), int(n))
               for name, us, n in re.findall(r"^(.+?)\s+([\d.]+) µs  \(n=(\d+)\)$", out, re.MULTILINE)}
    for stage in ("client: /health", "client: /predict", "server: /health", "server: /predict",
                  "judge (all of the below)", "the history read (known_or_history)", "judge_one",
                  "of it explain_one (walk, score, credits)", "connection in", "connection out"):
        assert medians[stage][0] > 0, (stage, out)
    assert medians["judge_one"][1] == medians["client: /predict"][1] == 30  # each prediction judged once
    # the stages are parts of the whole: a wrapper that timed the wrong thing would break these
    assert medians["judge (all of the below)"][0] < medians["server: /predict"][0] < medians["client: /predict"][0]
    assert medians["of it explain_one (walk, score, credits)"][0] < medians["judge_one"][0]
