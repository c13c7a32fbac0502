"""Drift over HTTP: a stream drawn like the training data stays under the PSI alert level; the same stream
with every amount tripled crosses it on the amount features and the score (/metrics and /model)."""

from __future__ import annotations

import json
import re
import secrets

import httpx
import pandas as pd
import pytest
from fastapi_plumbing.testing import free_port

from ml_model.drift import PSI_ALERT
from ml_model.simulate import simulate_transactions
from tests.service_process import ServiceProcess, service_env

WINDOW = 1500
AMOUNT_FEATURES = {"tx_amount", "customer_avg_amount_1h", "customer_avg_amount_7d", "customer_avg_amount_30d"}


@pytest.fixture(scope="module")
def stream(model_dir):
    """The test model's own simulation (conftest: 30 days, 100 customers, 200 terminals, seed 1) up to the
    end of its training period: the window then holds the last WINDOW of them, drawn from the training
    distribution without being the exact rows the references were computed on."""
    raw = simulate_transactions(days=30, customers=100, terminals=200, seed=1)
    train_to = json.loads((model_dir / "model_metadata.json").read_text())["periods"]["train_to"]
    return raw[raw["tx_datetime"] < pd.Timestamp(train_to) + pd.Timedelta(days=1)]


def _replay(tmp_path, databases, model_dir, raw, amount_factor: float) -> tuple[dict, str]:
    env = service_env(model_dir=model_dir, data_dir=tmp_path, database_url=databases.create("drift"),
                      token=secrets.token_urlsafe(24), port=free_port())
    env.update(DRIFT_WINDOW=str(WINDOW), DRIFT_MIN_SAMPLES="500")
    process = ServiceProcess.start(env, tmp_path / f"drift-{amount_factor}.log")
    try:
        process.wait_ready()
        with httpx.Client(base_url=process.url, headers={"X-Internal-Token": process.token}, timeout=60) as client:
            rows = raw.to_dict("records")
            for start in range(0, len(rows), 1000):
                chunk = rows[start:start + 1000]
                batch = [{"transaction_id": r["transaction_id"], "customer_id": str(r["customer_id"]),
                          "terminal_id": str(r["terminal_id"]), "amount": round(r["tx_amount"] * amount_factor, 2),
                          "timestamp": r["tx_datetime"].isoformat()} for r in chunk]
                assert client.post("/predict/batch", json={"transactions": batch}).status_code == 200
                for r in chunk:  # confirmed frauds, as analysts would send them
                    if r["tx_fraud"] == 1:
                        client.post("/feedback", json={"transaction_id": r["transaction_id"], "is_fraud": True})
            return client.get("/model").json()["drift"], client.get("/metrics").text
    finally:
        process.stop()


def _gauge(metrics: str, feature: str) -> float:
    match = re.search(rf'^fraud_drift_psi{{feature="{feature}"}} (\S+)$', metrics, re.MULTILINE)
    assert match, f"no PSI gauge for {feature}"
    return float(match.group(1))


def test_stream_like_training_stays_under_the_alert_level(tmp_path, databases, model_dir, stream):
    drift, metrics = _replay(tmp_path, databases, model_dir, stream, 1.0)

    assert drift["samples"] == WINDOW and drift["alert_level"] == PSI_ALERT
    assert drift["alerts"] == [], drift
    assert max(drift["feature_psi"].values()) < PSI_ALERT and drift["score_psi"] < PSI_ALERT
    assert _gauge(metrics, "tx_amount") == pytest.approx(drift["feature_psi"]["tx_amount"])
    assert f"fraud_drift_psi_alert_level {PSI_ALERT}" in metrics


def test_amounts_times_three_cross_it_on_the_amount_features_and_the_score(tmp_path, databases, model_dir, stream):
    drift, metrics = _replay(tmp_path, databases, model_dir, stream, 3.0)

    assert AMOUNT_FEATURES | {"risk_score"} <= set(drift["alerts"]), drift
    for name in AMOUNT_FEATURES:
        assert _gauge(metrics, name) > PSI_ALERT
    assert _gauge(metrics, "risk_score") > PSI_ALERT
