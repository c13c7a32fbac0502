"""Per-feature contributions on the fast path: equal to the reference implementation (shap's Saabas path
attribution for IsolationForest, ``TreeExplainer(...).shap_values(x, approximate=True)``) and to
ml_model's batch path, and adding up to the anomaly score the service answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shap
from sklearn.ensemble import IsolationForest

from app.services.compiled_forest import CompiledForest
from app.services.risk_engine import RiskEngine
from ml_model import attribution
from ml_model.features import build_features
from ml_model.profile_store import InMemoryProfileStore, Transaction
from ml_model.simulate import simulate_transactions
from ml_model.testing import replay_online

# Both sides add the same float64 node values in a different order: agreement is to rounding.
TOLERANCE = 1e-9


def _forest(max_features: float, n_train: int = 2000, seed: int = 3) -> tuple[IsolationForest, np.ndarray]:
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(n_train, 6)) * rng.uniform(0.1, 30, 6)
    train[:, 0] = np.round(train[:, 0])  # a discrete feature: leaves holding several samples
    forest = IsolationForest(n_estimators=80, max_features=max_features, random_state=seed).fit(train)
    rows = np.vstack([train[:300], rng.normal(size=(300, 6)) * 60])  # ordinary rows and far-off ones
    return forest, rows


@pytest.mark.parametrize("max_features", [1.0, 0.5])
def test_compiled_contributions_equal_shap_path_attribution(max_features):
    forest, rows = _forest(max_features)
    compiled = CompiledForest.from_sklearn(forest)
    explainer = shap.TreeExplainer(forest)
    reference = explainer.shap_values(rows.astype(np.float32), approximate=True)

    scores, batch = compiled.explain_samples(rows)
    one_by_one = np.array([compiled.explain_one(row)[1] for row in rows])

    assert np.abs(batch - reference).max() < TOLERANCE
    assert np.array_equal(batch, one_by_one)  # /predict/batch and /predict: the same floats
    assert compiled.expected_mean_path_length == pytest.approx(float(np.ravel(explainer.expected_value)[0]),
                                                               abs=TOLERANCE)
    assert np.abs(scores - forest.score_samples(rows)).max() < TOLERANCE
    # ml_model's batch path over scikit-learn's own trees gives the same credits.
    assert np.abs(attribution.path_contributions(forest, rows) - reference).max() < TOLERANCE


def test_path_attribution_names_the_same_top_feature_as_exact_tree_shap():
    # Saabas is the O(depth) approximation of TreeSHAP: on rows where one feature is far off, both must
    # blame that feature first (exact TreeSHAP is too slow for /predict, see ml_model/attribution.py).
    forest, _ = _forest(1.0)
    rng = np.random.default_rng(9)
    rows = rng.normal(size=(6, 6)) * 0.3
    for j in range(6):
        rows[j, j] = 200.0
    exact = shap.TreeExplainer(forest).shap_values(rows.astype(np.float32))
    _, saabas = CompiledForest.from_sklearn(forest).explain_samples(rows)
    assert list(np.argmin(exact, axis=1)) == list(np.argmin(saabas, axis=1)) == list(range(6))


def test_contributions_add_up_to_the_anomaly_score_above_the_baseline(model_dir):
    risk = RiskEngine.load(model_dir)
    raw = simulate_transactions(days=12, customers=40, terminals=60, seed=4)
    online = _online(raw, risk)  # features as the service computes them, one transaction at a time
    verdicts = risk.judge(online.to_numpy(), _transactions(raw))

    for verdict in verdicts:
        total = sum(c["contribution"] for c in verdict.contributions)
        assert total == pytest.approx(verdict.anomaly_score - risk.baseline_anomaly_score, abs=1e-12)
        shares = [c["contribution"] for c in verdict.contributions]
        assert shares == sorted(shares, reverse=True)
        assert {c["feature"] for c in verdict.contributions} == set(risk.feature_columns)
    assert {v.decision for v in verdicts} == {"APPROVED", "BLOCKED"}


def test_online_contributions_equal_the_batch_path(model_dir):
    """The service's contributions (online features, compiled forest) equal ml_model's batch path
    (``build_features`` over the whole history, scikit-learn's trees) for every transaction."""
    risk = RiskEngine.load(model_dir)
    raw = simulate_transactions(days=12, customers=40, terminals=60, seed=5)
    online = _online(raw, risk)
    batch = build_features(raw, label_delay_days=risk.label_delay_days)

    service = [risk.judge_one(row, tx) for row, tx in zip(online.to_dict("records"), _transactions(raw), strict=True)]
    scaled = risk.loaded.scaler.transform(batch[risk.feature_columns].to_numpy())
    credits = attribution.path_contributions(risk.loaded.model, scaled)
    reference = attribution.to_anomaly_units(credits, attribution.baseline_path_length(risk.loaded.model),
                                             attribution.normaliser(risk.loaded.model))

    by_feature = np.array([[dict((c["feature"], c["contribution"]) for c in v.contributions)[name]
                            for name in risk.feature_columns] for v in service])
    assert np.abs(by_feature - reference).max() < TOLERANCE


def test_repeated_judgements_give_identical_contributions(model_dir):
    risk = RiskEngine.load(model_dir)
    raw = simulate_transactions(days=6, customers=20, terminals=30, seed=6)
    online, txs = _online(raw, risk)[-50:], _transactions(raw)[-50:]
    rows = online.to_dict("records")
    first = [risk.judge_one(row, tx) for row, tx in zip(rows, txs, strict=True)]
    again = [risk.judge_one(row, tx) for row, tx in zip(rows, txs, strict=True)]
    assert first == again == risk.judge(online.to_numpy(), txs)


def _online(raw: pd.DataFrame, risk: RiskEngine) -> pd.DataFrame:
    return replay_online(InMemoryProfileStore(), raw, label_delay_days=risk.label_delay_days)


def _transactions(raw: pd.DataFrame) -> list[Transaction]:
    return [Transaction(r.transaction_id, r.customer_id, r.terminal_id, r.tx_amount, r.tx_datetime.to_pydatetime())
            for r in raw.itertuples()]
