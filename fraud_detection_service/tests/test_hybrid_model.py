"""The service loads a hybrid model as it loads a forest, and scores it like scikit-learn does."""

from __future__ import annotations

import secrets
from datetime import timedelta

import httpx
import numpy as np
import pytest
from fastapi_plumbing.testing import free_port

from app.services.risk_engine import RiskEngine
from ml_model.artifacts import load_verified
from ml_model.attribution import HYBRID_METHOD
from ml_model.features import build_features
from ml_model.profile_store import Transaction
from ml_model.scoring import model_score, risk_score
from ml_model.simulate import simulate_transactions
from tests.helpers import DAY0, daily_habit, new_id, transaction
from tests.service_process import ServiceProcess, service_env


@pytest.fixture(scope="module")
def hybrid_engine(hybrid_model_dir) -> RiskEngine:
    return RiskEngine.load(hybrid_model_dir)


def test_compiled_hybrid_scores_equal_sklearn_predict_proba(hybrid_engine, hybrid_model_dir):
    loaded = load_verified(hybrid_model_dir)
    raw = simulate_transactions(days=20, customers=80, terminals=100, seed=11)
    features = build_features(raw)
    rows = [dict(zip(features.columns, values, strict=True)) for values in features.to_numpy()[:600]]
    txs = _transactions(raw)[:600]
    expected = model_score(loaded, features[loaded.feature_columns].to_numpy()[:600])

    batch = np.array([v.anomaly_score for v in hybrid_engine.judge(features.to_numpy()[:600], txs)])
    one_by_one = np.array([hybrid_engine.judge_one(row, tx).anomaly_score for row, tx in zip(rows, txs, strict=True)])
    shadow = np.array([hybrid_engine.decide_one(row)[1] for row in rows])
    shadow_batch = np.array(hybrid_engine.decide_many(features.to_numpy()[:600])[1])
    assert np.abs(batch - expected).max() < 1e-9
    assert np.abs(one_by_one - expected).max() < 1e-9
    assert np.abs(shadow - risk_score(expected, loaded.calibration)).max() < 1e-9
    assert np.abs(shadow_batch - risk_score(expected, loaded.calibration)).max() < 1e-9
    assert hybrid_engine.kind == "hybrid" and hybrid_engine.model_version.startswith("hy-")


def _transactions(raw) -> list[Transaction]:
    return [Transaction(r.transaction_id, r.customer_id, r.terminal_id, r.tx_amount, r.tx_datetime.to_pydatetime())
            for r in raw.itertuples()]


def test_hybrid_decisions_follow_the_threshold_and_risk_is_half_there(hybrid_engine):
    raw = simulate_transactions(days=20, customers=80, terminals=100, seed=12)
    features = build_features(raw)
    verdicts = hybrid_engine.judge(features.to_numpy(), _transactions(raw))
    for verdict in verdicts:
        assert verdict.reasons and len(verdict.contributions) == len(hybrid_engine.feature_columns)
        assert (verdict.decision == "BLOCKED") == (verdict.anomaly_score >= hybrid_engine.threshold)
        assert (verdict.risk_score >= 0.5) == (verdict.decision == "BLOCKED")


def test_service_serves_a_hybrid_model(tmp_path, hybrid_model_dir, databases):
    env = service_env(model_dir=hybrid_model_dir, data_dir=tmp_path, database_url=databases.create("hybrid"),
                      token=secrets.token_urlsafe(24), port=free_port())
    process = ServiceProcess.start(env, tmp_path / "service.log")
    try:
        process.wait_ready()
        with httpx.Client(base_url=process.url, headers={"X-Internal-Token": process.token}, timeout=30) as client:
            customer, terminal = new_id("cust"), new_id("term")
            history = client.post("/predict/batch", json={"transactions": daily_habit(customer, terminal, days=10,
                                                                                      amount=30.0)})
            assert history.status_code == 200, history.text
            when = DAY0 + timedelta(days=10, hours=12)
            answer = client.post("/predict", json=transaction(customer, terminal, 31.0, when))
            card = client.get("/model")
    finally:
        process.stop()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_version"].startswith("hy-") and 0 <= body["anomaly_score"] <= 1
    assert (body["risk_score"] >= 0.5) == (body["decision"] == "BLOCKED")
    assert card.json()["model_kind"] == "hybrid"
    # Contributions to the fraud probability, over the model features, from the card's baseline (both routes).
    features = {f["name"] for f in card.json()["features"]}
    for result in [body, *history.json()["results"]]:
        assert {c["feature"] for c in result["contributions"]} == features
        total = sum(c["contribution"] for c in result["contributions"])
        assert total == pytest.approx(result["anomaly_score"] - card.json()["baseline_anomaly_score"], abs=1e-12)
    assert card.json()["explanation_method"] == HYBRID_METHOD
    assert "model hy-" in process.log() and "(hybrid)" in process.log()
