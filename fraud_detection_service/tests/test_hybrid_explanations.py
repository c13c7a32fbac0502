"""A hybrid model's explanations: its classifier's contributions (the anomaly score's credit shared among the
features by the forest's own contributions) must name what moved the fraud probability, on the fast path
(``judge_one``) as on the batch path (``judge``), the same on every call and adding up to the score.

Two hybrids. The trained one learnt the simulator's frauds (high amounts, compromised terminals), so it is
asked about those. The "taught" one shares the test forest, and its classifier is fitted here on ordinary
simulated rows plus copies where one thing is extreme (amount, burst, night hour, terminal fraud rate),
labelled fraud: each of the four single-extreme payments must then be explained by its own feature.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from app.services.risk_engine import RiskEngine, Verdict
from ml_model.artifacts import HYBRID, load_verified
from ml_model.attribution import model_contributions
from ml_model.features import build_features, online_features
from ml_model.profile_store import InMemoryProfileStore, Transaction
from ml_model.reasons import GROUP_OF, ReasonPolicy
from ml_model.simulate import simulate_transactions
from ml_model.testing import replay_online
from tests.helpers import extreme_amount, extreme_burst, extreme_night, extreme_terminal_fraud_rate

EVERY_REASON = ReasonPolicy(from_risk=0.0)  # reasons for approved payments too, so each wording is checked


@pytest.fixture(scope="module")
def trained(hybrid_model_dir) -> RiskEngine:
    return RiskEngine.load(hybrid_model_dir, reasons=EVERY_REASON)


@pytest.fixture(scope="module")
def taught(model_dir) -> RiskEngine:
    loaded = load_verified(model_dir)
    columns = loaded.feature_columns
    at = {name: columns.index(name) for name in columns}
    history = simulate_transactions(days=30, customers=100, terminals=200, seed=1)
    x = build_features(history, label_delay_days=loaded.label_delay_days)[columns].to_numpy()
    ordinary = x[(x[:, at["hour_of_day"]] >= 7) & (x[:, at["customer_tx_count_1h"]] < 3)
                 & (x[:, at["terminal_fraud_rate_7d"]] < 0.1) & (x[:, at["amount_to_customer_avg_30d"]] < 4)]
    rng = np.random.default_rng(0)

    def extreme(kind: str) -> np.ndarray:
        rows = ordinary[rng.choice(len(ordinary), 1500)].copy()
        if kind == "amount":
            for name in ("tx_amount", "amount_to_customer_avg_7d", "amount_to_customer_avg_30d"):
                rows[:, at[name]] *= rng.uniform(10, 100, len(rows))
        elif kind == "burst":
            rows[:, at["customer_tx_count_1h"]] = rng.integers(6, 20, len(rows))
        elif kind == "night":
            rows[:, at["hour_of_day"]] = rng.uniform(1, 5, len(rows))
        else:
            rows[:, at["terminal_fraud_rate_7d"]] = rng.uniform(0.3, 0.7, len(rows))
        return rows

    frauds = np.vstack([extreme(kind) for kind in ("amount", "burst", "night", "terminal")])
    rows = np.vstack([ordinary, frauds])
    labels = np.r_[np.zeros(len(ordinary)), np.ones(len(frauds))]
    anomaly = -loaded.model.score_samples(loaded.scaler.transform(rows))
    classifier = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(np.column_stack([rows, anomaly]),
                                                                                  labels)
    metadata = {**loaded.metadata, "model_kind": HYBRID, "model_version": "hy-taught", "threshold": 0.5,
                "risk_calibration": {"threshold": 0.5, "scale": 0.1}}
    return RiskEngine(replace(loaded, metadata=metadata, classifier=classifier), reasons=EVERY_REASON)


def _judge(risk: RiskEngine, store: InMemoryProfileStore, tx: Transaction) -> Verdict:
    return risk.judge_one(online_features(tx, store, label_delay_days=risk.label_delay_days), tx)


@pytest.mark.parametrize(("probe", "feature", "first_reason"), [
    (extreme_amount, "amount_group", "amount 2,400.00 EUR is 6"),
    (extreme_burst, "customer_tx_count_1h", "9 purchases in the previous hour, averaging 38.00"),
    (extreme_night, "hour_of_day", "made at 03:30 UTC"),
    (extreme_terminal_fraud_rate, "terminal_fraud_rate_7d", "terminal T-bad: 4 of its 8 labelled payments"),
])
def test_the_one_extreme_feature_ranks_first_and_is_the_first_reason(taught, probe, feature, first_reason):
    verdict = _judge(taught, *probe())
    assert verdict.decision == "BLOCKED", verdict  # the classifier did learn it: the ranking below means something
    top = verdict.contributions[0]["feature"]
    assert (GROUP_OF[top] == "amount") if feature == "amount_group" else (top == feature), verdict.contributions
    assert verdict.reasons[0].startswith(first_reason), verdict.reasons


@pytest.mark.parametrize(("probe", "group"), [(extreme_amount, "amount"), (extreme_terminal_fraud_rate, "terminal")])
def test_the_trained_hybrid_names_what_it_learnt_from_the_simulated_frauds(trained, probe, group):
    verdict = _judge(trained, *probe())
    assert verdict.decision == "BLOCKED"
    assert GROUP_OF[verdict.contributions[0]["feature"]] == group, verdict.contributions
    assert GROUP_OF[verdict.contributions[1]["feature"]] != "terminal" or group == "terminal"


def test_online_equals_batch_adds_up_and_is_stable(trained):
    raw = simulate_transactions(days=12, customers=40, terminals=60, seed=5)
    online = replay_online(InMemoryProfileStore(), raw, label_delay_days=trained.label_delay_days)
    rows = online.to_dict("records")
    txs = [Transaction(r.transaction_id, r.customer_id, r.terminal_id, r.tx_amount, r.tx_datetime.to_pydatetime())
           for r in raw.itertuples()]
    one_by_one = [trained.judge_one(row, tx) for row, tx in zip(rows, txs, strict=True)]

    assert trained.judge(online.to_numpy(), txs) == one_by_one  # every field, contributions to the bit
    assert [trained.judge_one(row, tx) for row, tx in zip(rows[-200:], txs[-200:], strict=True)] == one_by_one[-200:]
    assert {v.decision for v in one_by_one} == {"APPROVED", "BLOCKED"}
    for verdict in one_by_one:
        assert {c["feature"] for c in verdict.contributions} == set(trained.feature_columns)  # no "anomaly_score"
        total = sum(c["contribution"] for c in verdict.contributions)
        assert total == pytest.approx(verdict.anomaly_score - trained.baseline_anomaly_score, abs=1e-12)
        shares = [c["contribution"] for c in verdict.contributions]
        assert shares == sorted(shares, reverse=True)


def test_the_fast_path_equals_the_reference_on_scikit_learns_trees(trained):
    """``ml_model.attribution.model_contributions``: shap-equal Saabas credits of the fitted classifier and
    forest, folded by the same rule; the service's compiled arrays must give the same."""
    raw = simulate_transactions(days=12, customers=40, terminals=60, seed=6)
    rows = build_features(raw, label_delay_days=trained.label_delay_days).to_dict("records")
    rows += [{**row, "tx_amount": 1e12} for row in rows[:50]]  # beyond every threshold (±inf, NaN: compiled tests)
    x = np.array([[row[name] for name in trained.feature_columns] for row in rows])
    reference, baseline = model_contributions(trained.loaded, x)
    tx = Transaction("t", "c", "T", 1.0, raw.tx_datetime.iloc[0].to_pydatetime())
    service = [trained.judge_one(row, tx) for row in rows]
    by_feature = np.array([[{c["feature"]: c["contribution"] for c in v.contributions}[name]
                            for name in trained.feature_columns] for v in service])
    assert np.abs(by_feature - reference).max() < 1e-9
    assert trained.baseline_anomaly_score == pytest.approx(baseline, abs=1e-12)
