"""The /predict path judges one transaction with ``RiskEngine.judge_one``; it must answer exactly what
the batch path (``judge``) answers."""

from __future__ import annotations

import numpy as np

from app.risk_engine import RiskEngine
from ml_model.features import FEATURE_COLUMNS
from ml_model.profile_store import Transaction
from tests.helpers import DAY0


def test_judge_one_gives_the_batch_verdict(model_dir):
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
    batch = risk.judge(full_rows, txs)
    assert {v.decision for v in batch} == {"APPROVED", "BLOCKED"}
    assert [risk.judge_one(row, tx) for row, tx in zip(full_rows, txs, strict=True)] == batch
