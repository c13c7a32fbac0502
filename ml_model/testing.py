"""Conformance replay for any ``ProfileStore``: the online feature path must equal the batch path.

The fraud detection service runs ``assert_online_matches_batch`` with its database-backed store; this
package runs it with ``InMemoryProfileStore``. ``score_and_record`` scores one transaction as the
service does (online features, verified artifacts) for tests of what a user notices.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_model import scoring
from ml_model.artifacts import LoadedModel
from ml_model.features import DEFAULT_LABEL_DELAY_DAYS, FEATURE_COLUMNS, build_features, online_features
from ml_model.profile_store import ProfileStore, Transaction


def replay_online(
    store: ProfileStore, raw: pd.DataFrame, *, label_delay_days: int = DEFAULT_LABEL_DELAY_DAYS
) -> pd.DataFrame:
    """Online features of every row of ``raw``, replayed in time order (ties by row order) through
    ``store``: features first, then the transaction is recorded and, when labelled, its label."""
    order = np.argsort(pd.to_datetime(raw["tx_datetime"]).to_numpy(dtype="datetime64[ns]"), kind="stable")
    labels = (
        pd.to_numeric(raw["tx_fraud"], errors="coerce").to_numpy(dtype=np.float64)
        if "tx_fraud" in raw
        else np.full(len(raw), np.nan)
    )
    columns = [raw[c].to_numpy() for c in ("transaction_id", "customer_id", "terminal_id", "tx_amount")]
    timestamps = pd.to_datetime(raw["tx_datetime"])
    rows = np.empty((len(raw), len(FEATURE_COLUMNS)))
    for i in order:
        tx = Transaction(
            transaction_id=str(columns[0][i]),
            customer_id=str(columns[1][i]),
            terminal_id=str(columns[2][i]),
            amount=float(columns[3][i]),
            timestamp=timestamps.iloc[i].to_pydatetime(),
        )
        features = online_features(tx, store, label_delay_days=label_delay_days)
        rows[i] = [features[name] for name in FEATURE_COLUMNS]
        store.record_transaction(tx)
        if not np.isnan(labels[i]):
            store.record_label(tx.transaction_id, bool(labels[i]))
    return pd.DataFrame(rows, index=raw.index, columns=FEATURE_COLUMNS)


def assert_online_matches_batch(
    store: ProfileStore,
    raw: pd.DataFrame,
    *,
    label_delay_days: int = DEFAULT_LABEL_DELAY_DAYS,
    atol: float = 1e-9,
) -> None:
    """Replay ``raw`` through ``store`` (which should start empty) and assert every online feature
    equals the batch feature within ``atol``; the message names the first differing rows."""
    batch = build_features(raw, label_delay_days=label_delay_days)
    online = replay_online(store, raw, label_delay_days=label_delay_days)
    problems = []
    for name in FEATURE_COLUMNS:
        diff = np.abs(online[name].to_numpy() - batch[name].to_numpy())
        bad = np.flatnonzero(~(diff <= atol))
        if len(bad):
            i = bad[0]
            problems.append(
                f"{name}: {len(bad)} row(s) differ, first transaction {raw['transaction_id'].iloc[i]!r} "
                f"online={online[name].iloc[i]!r} batch={batch[name].iloc[i]!r}"
            )
    assert not problems, "online features differ from batch features:\n" + "\n".join(problems)


def score_and_record(loaded: LoadedModel, store: ProfileStore, tx: Transaction) -> tuple[str, float]:
    """(decision, risk score) of ``tx`` from its online features against ``store``, then records it."""
    features = online_features(tx, store, label_delay_days=loaded.label_delay_days)
    x = np.array([[features[name] for name in loaded.feature_columns]])
    anomaly = scoring.anomaly_score(loaded.model, loaded.scaler.transform(x))
    store.record_transaction(tx)
    risk = float(scoring.risk_score(anomaly, loaded.calibration)[0])
    return str(scoring.decision(anomaly, loaded.threshold)[0]), risk
