"""``RiskEngine.judge_one`` (/predict) and ``judge`` (/predict/batch) run the compiled forest on the scaler
reduced to two vectors; they must answer what the reference model answers (scikit-learn's scaler and
forest, scored and decided by ``ml_model.scoring``), and the same as each other."""

from __future__ import annotations

import numpy as np
import pytest

from app.services.risk_engine import RiskEngine
from ml_model.features import FEATURE_COLUMNS
from ml_model.profile_store import Transaction
from ml_model.scoring import APPROVED, BLOCKED, decision, risk_score
from tests.helpers import DAY0


def test_judge_one_answers_what_the_reference_model_answers(model_dir):
    risk = RiskEngine.load(model_dir)
    rng = np.random.default_rng(3)
    # From ordinary rows (scaled near 0) to far-off ones that must be BLOCKED with reasons.
    rows = [
        {name: float(mean + scale * z) for name, mean, scale, z in
         zip(risk.feature_columns, risk.mean, risk.scale, rng.normal(size=len(risk.feature_columns)) * spread,
             strict=True)}
        for spread in (0.0, 0.5, 1.0, 3.0, 8.0, 30.0) for _ in range(20)
    ]
    full_rows = [{**dict.fromkeys(FEATURE_COLUMNS, 1.0), **row} for row in rows]  # reasons read any feature
    txs = [Transaction(f"t{i}", "c", "T-1", row["tx_amount"], DAY0) for i, row in enumerate(full_rows)]

    verdicts = [risk.judge_one(row, tx) for row, tx in zip(full_rows, txs, strict=True)]

    matrix = np.array([[row[name] for name in risk.feature_columns] for row in full_rows])
    anomaly = -risk.loaded.model.score_samples(risk.loaded.scaler.transform(matrix))
    assert [v.anomaly_score for v in verdicts] == pytest.approx(list(anomaly), abs=1e-12)
    assert [v.decision for v in verdicts] == [str(d) for d in decision(anomaly, risk.threshold)]
    assert [v.risk_score for v in verdicts] == pytest.approx(list(risk_score(anomaly, risk.calibration)), abs=1e-12)
    assert {v.decision for v in verdicts} == {APPROVED, BLOCKED}
    assert all(v.reasons for v in verdicts if v.decision == BLOCKED)
    assert risk.judge(np.array([[row[name] for name in FEATURE_COLUMNS] for row in full_rows]), txs) == verdicts


def test_one_rows_decision_and_risk_equal_the_batch_paths_to_the_bit(model_dir):
    # judge_one and decide_one decide and calibrate one score in scalar arithmetic; /predict/batch and the
    # challenger's batch shadow in numpy over the matrix. The same payment must get the same floats.
    risk = RiskEngine.load(model_dir)
    rng = np.random.default_rng(8)
    z = rng.normal(size=(2000, len(risk.feature_columns))) * rng.choice([0.0, 0.5, 1.0, 3.0, 8.0], size=(2000, 1))
    matrix = np.ones((2000, len(FEATURE_COLUMNS)))  # reasons read any feature: positive averages
    model_columns = [FEATURE_COLUMNS.index(name) for name in risk.feature_columns]
    matrix[:, model_columns] = np.abs(risk.mean + risk.scale * z) + 0.01
    rows = [dict(zip(FEATURE_COLUMNS, row.tolist(), strict=True)) for row in matrix]
    txs = [Transaction(f"t{i}", "c", "T-1", 10.0, DAY0) for i in range(len(rows))]

    decisions, risks = risk.decide_many(matrix)
    assert [risk.decide_one(row) for row in rows] == list(zip(decisions, risks, strict=True))
    assert [(v.decision, v.risk_score) for v in (risk.judge_one(row, tx) for row, tx in zip(rows, txs, strict=True))] \
        == list(zip(decisions, risks, strict=True))
    assert {APPROVED, BLOCKED} <= set(decisions)
