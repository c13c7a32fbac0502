import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_model import train_model
from ml_model.artifacts import load_verified
from ml_model.simulate import simulate_transactions

REPO_ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--days", "30", "--customers", "200", "--terminals", "400", "--seed", "5"]


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "history.csv"
    simulate_transactions(days=30, customers=200, terminals=400, seed=8).to_csv(path, index=False)
    return path


def _run_cli(*args, cwd=REPO_ROOT):
    return subprocess.run([sys.executable, "ml_model/train_model.py", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=240)


def test_cli_trains_on_simulated_data_and_writes_artifacts_report_and_scores(tmp_path):
    out, report, scores = tmp_path / "models", tmp_path / "report", tmp_path / "scores.csv"
    done = _run_cli(*SMALL, "--output-dir", out, "--report-dir", report, "--scores-out", scores)
    assert done.returncode == 0, done.stderr
    assert "ROC AUC" in done.stdout and "amount rule" in done.stdout
    loaded = load_verified(out)
    metadata = loaded.metadata
    assert metadata["data_source"]["simulated"]["seed"] == 5
    assert metadata["periods"]["train_to"] < metadata["periods"]["eval_from"]
    for name in ("roc_curve.png", "precision_recall_curve.png", "score_distribution.png", "model_card.md"):
        assert (report / name).stat().st_size > 0, name
    card = (report / "model_card.md").read_text()
    # The worked example's reasons, at both start times: five purchases each, the last one's amount named.
    assert "## Explanations" in card and card.count("| 9,850.00 |") == 2
    assert "amount 9,850.00 EUR" in card
    written = pd.read_csv(scores)
    assert list(written.columns) == ["transaction_id", "risk_score", "decision"]
    assert len(written) == metadata["data_summary"]["evaluation"]["transactions"]
    assert written["risk_score"].between(0, 1).all()
    assert set(written["decision"]) <= {"APPROVED", "BLOCKED"}
    assert ((written["risk_score"] >= 0.5) == (written["decision"] == "BLOCKED")).all()


def test_cli_runs_as_a_module_too(tmp_path):
    done = subprocess.run([sys.executable, "-m", "ml_model.train_model", "--help"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--scores-out" in done.stdout


def test_csv_with_upper_case_columns_explicit_periods_and_unlabelled_evaluation(tmp_path, small_csv, capsys):
    raw = pd.read_csv(small_csv)
    raw.columns = [c.upper() for c in raw.columns]
    days = pd.to_datetime(raw["TX_DATETIME"]).dt.floor("D")
    raw["TX_FRAUD"] = raw["TX_FRAUD"].astype("Int64").astype(object)
    raw.loc[days >= "2025-04-25", "TX_FRAUD"] = ""  # evaluation days not yet labelled
    path = tmp_path / "upper.csv"
    raw.to_csv(path, index=False)
    scores = tmp_path / "scores.csv"
    code = train_model.main([
        "--data", str(path), "--train-from", "2025-04-05", "--train-to", "2025-04-17",
        "--eval-from", "2025-04-25", "--eval-to", "2025-04-30", "--output-dir", str(tmp_path / "m"),
        "--report-dir", str(tmp_path / "r"), "--scores-out", str(scores),
    ])
    assert code == 0
    assert "could not be computed" in capsys.readouterr().out
    assert len(pd.read_csv(scores)) == int((days >= "2025-04-25").sum())
    metadata = json.loads((tmp_path / "m" / "model_metadata.json").read_text())
    assert metadata["periods"]["train_from"] == "2025-04-05"
    assert "roc_auc" not in metadata["metrics"]["evaluation"]


def _corrupt(small_csv, tmp_path, edit):
    raw = pd.read_csv(small_csv, dtype=str, keep_default_na=False)
    raw = edit(raw)
    path = tmp_path / "bad.csv"
    raw.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda r: r.drop(columns=["tx_amount"]), "missing column(s): tx_amount"),
        (lambda r: r.assign(tx_datetime=r["tx_datetime"].where(r.index != 7, "yesterday")),
         "line 9: tx_datetime 'yesterday' is not a date-time"),
        (lambda r: r.assign(tx_amount=r["tx_amount"].where(r.index != 3, "12,50")),
         "line 5: tx_amount '12,50' is not a number"),
        (lambda r: r.assign(tx_amount=r["tx_amount"].where(r.index != 0, "-4.00")),
         "line 2: tx_amount '-4.00' is negative"),
        (lambda r: r.head(0), "no transactions"),
        (lambda r: r.assign(tx_fraud=r["tx_fraud"].where(r.index != 1, "maybe")),
         "line 3: tx_fraud 'maybe' is not 0, 1 or empty"),
    ],
    ids=["missing-column", "bad-date", "non-numeric-amount", "negative-amount", "header-only", "bad-label"],
)
def test_bad_data_stops_with_one_line_exit_2_and_no_artifacts(tmp_path, small_csv, capsys, edit, expected):
    path = _corrupt(small_csv, tmp_path, edit)
    out = tmp_path / "models"
    assert train_model.main(["--data", str(path), "--output-dir", str(out)]) == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert expected in message and str(path) in message
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [path]  # no temporary folder left behind either


def test_empty_file_exits_2_from_the_real_process_and_keeps_previous_artifacts(tmp_path, trained_dir):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    before = {p.name: p.read_bytes() for p in trained_dir.iterdir()}
    done = _run_cli("--data", empty, "--output-dir", trained_dir)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == f"error: {empty}: empty file"
    assert {p.name: p.read_bytes() for p in trained_dir.iterdir()} == before


def test_training_metrics_beat_the_amount_rule_on_unseen_days(trained_dir):
    metrics = load_verified(trained_dir).metadata["metrics"]
    model, rule = metrics["evaluation"], metrics["amount_rule_evaluation"]
    assert model["roc_auc"] > rule["roc_auc"]
    assert model["average_precision"] > rule["average_precision"]
    assert np.isfinite(model["card_precision_at_100"])


def test_unwritable_output_folder_is_reported_without_a_traceback(tmp_path, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder's parent should be")
    code = train_model.main([*SMALL, "--output-dir", str(blocker / "models")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 1
    assert err.startswith("error: cannot write") and "Traceback" not in err


def test_feature_selection_tool_runs_on_small_data(capsys):
    from ml_model import select_features

    assert select_features.main(["--days", "30", "--customers", "200", "--terminals", "400",
                                 "--forest-seeds", "1"]) == 0
    selected = capsys.readouterr().out.strip().splitlines()[-1]
    assert selected.startswith("selected: [")
