"""The hybrid model: a classifier learnt from labelled rows, the forest's anomaly score one of its inputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ml_model import train_model
from ml_model.artifacts import CLASSIFIER_FILE, METADATA_FILE, ArtifactError, load_verified
from ml_model.dataset import DataError
from ml_model.features import build_features
from ml_model.scoring import anomaly_score, model_score
from ml_model.simulate import simulate_transactions
from ml_model.training import MIN_HYBRID_FRAUDS, train


def test_hybrid_folder_is_verified_and_says_its_kind(hybrid_dir):
    loaded = load_verified(hybrid_dir)
    assert loaded.kind == "hybrid" and loaded.metadata["model_kind"] == "hybrid"
    assert loaded.model_version.startswith("hy-")
    assert CLASSIFIER_FILE in loaded.metadata["sha256"]
    assert loaded.metadata["classifier_inputs"] == [*loaded.feature_columns, "isolation_forest_anomaly_score"]
    assert loaded.classifier.n_features_in_ == len(loaded.feature_columns) + 1
    metrics = loaded.metadata["metrics"]
    assert metrics["evaluation"]["roc_auc"] > 0.5 and "roc_auc" in metrics["forest_evaluation"]


def test_hybrid_score_is_the_fraud_probability_thresholded_like_the_forest(hybrid_dir):
    loaded = load_verified(hybrid_dir)
    raw = simulate_transactions(days=10, customers=60, terminals=80, seed=4)
    x = build_features(raw)[loaded.feature_columns].to_numpy()
    score = model_score(loaded, x)
    anomaly = anomaly_score(loaded.model, loaded.scaler.transform(x))
    assert np.array_equal(score, loaded.classifier.predict_proba(np.column_stack([x, anomaly]))[:, 1])
    assert ((score >= 0) & (score <= 1)).all()
    # Same rule as the forest: the threshold is the training score exceeded by the alert rate (1 %).
    assert loaded.metadata["metrics"]["training"]["alert_rate"] == pytest.approx(0.01, abs=0.002)


def test_hybrid_pickle_altered_is_refused(hybrid_dir, tmp_path):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(hybrid_dir, copy)
    with open(copy / CLASSIFIER_FILE, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ArtifactError, match=f"{CLASSIFIER_FILE}: SHA-256 mismatch"):
        load_verified(copy)


def test_unlabelled_rows_feed_the_forest_but_not_the_classifier():
    raw = simulate_transactions(days=45, customers=300, terminals=600, seed=7)
    rng = np.random.default_rng(0)
    unlabelled = rng.random(len(raw)) < 0.3
    raw["tx_fraud"] = raw["tx_fraud"].astype(np.float64)
    raw.loc[unlabelled & (raw["tx_fraud"] == 0), "tx_fraud"] = np.nan  # legitimate rows not yet reviewed
    result = train(raw, kind="hybrid", seed=1, grid=[{"fit_rows": "all", "n_estimators": 50, "max_samples": 256}])
    summary = result.metadata["data_summary"]["training"]
    used = result.metadata["classifier_training"]
    assert used["labelled"] == summary["labelled"] < summary["transactions"]
    assert used["frauds"] == summary["frauds"] >= MIN_HYBRID_FRAUDS
    assert result.evaluation["score"].between(0, 1).all()


def test_too_few_frauds_is_refused_with_a_clear_message():
    raw = simulate_transactions(days=30, customers=100, terminals=200, seed=1)
    with pytest.raises(DataError, match=f"needs at least {MIN_HYBRID_FRAUDS} transactions labelled as fraud"):
        train(raw, kind="hybrid")


def test_cli_refuses_hybrid_without_enough_labels_exit_2_nothing_written(tmp_path, capsys):
    raw = simulate_transactions(days=45, customers=300, terminals=600, seed=7)
    raw["tx_fraud"] = raw["tx_fraud"].astype(object)
    raw.loc[raw["tx_fraud"] == 1, "tx_fraud"] = ""  # the frauds not reported yet
    path = tmp_path / "history.csv"
    raw.to_csv(path, index=False)
    out = tmp_path / "models"
    assert train_model.main(["--data", str(path), "--model", "hybrid", "--output-dir", str(out)]) == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith("error: --model hybrid needs at least 50") and "found 0 fraud" in message
    assert not out.exists()


def test_cli_trains_hybrid_with_the_same_report_and_scores(tmp_path, capsys):
    out, report, scores = tmp_path / "models", tmp_path / "report", tmp_path / "scores.csv"
    code = train_model.main(["--days", "45", "--customers", "300", "--terminals", "600", "--seed", "7",
                             "--model", "hybrid", "--output-dir", str(out), "--report-dir", str(report),
                             "--scores-out", str(scores)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "forest alone" in printed and "amount rule" in printed
    metadata = json.loads((out / METADATA_FILE).read_text())
    assert metadata["model_kind"] == "hybrid"
    for name in ("roc_curve.png", "precision_recall_curve.png", "score_distribution.png", "model_card.md"):
        assert (report / name).stat().st_size > 0, name
    written = pd.read_csv(scores)
    assert len(written) == metadata["data_summary"]["evaluation"]["transactions"]
    assert ((written["risk_score"] >= 0.5) == (written["decision"] == "BLOCKED")).all()
