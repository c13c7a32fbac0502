"""Champion against challenger on the labelled transactions of a period, from the answers both gave
(the champion's decision and the challenger's shadow one, stored side by side by /predict).

Only transactions scored by both count, and by one challenger version (by default the loaded one, else
the one that scored most in the period). Per model: ROC AUC and average precision of the risk score
over the labelled ones, precision and recall of its decisions at its own threshold (BLOCKED ⇔ risk ≥
0.5 ⇔ anomaly ≥ threshold), alert rate over all of them; and how many decisions would change.
Rows are read in chunks, so a period of millions of transactions costs a few arrays of floats.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score
from sqlalchemy import Engine, func, select

from app.db.tables import transactions
from ml_model.scoring import BLOCKED

CHUNK_ROWS = 20_000


def _period(first: date, last: date) -> tuple[datetime, datetime]:
    return datetime.combine(first, time()), datetime.combine(last + timedelta(days=1), time())


def busiest_challenger(db: Engine, first: date, last: date) -> str | None:
    """The challenger version with the most shadow answers in the period (None without any)."""
    start, end = _period(first, last)
    t = transactions.c
    query = (select(t.challenger_model_version, func.count())
             .where(t.timestamp >= start, t.timestamp < end, t.challenger_model_version.is_not(None))
             .group_by(t.challenger_model_version).order_by(func.count().desc()).limit(1))
    with db.connect() as conn:
        row = conn.execute(query).first()
    return row[0] if row else None


def compare(db: Engine, first: date, last: date, challenger_version: str) -> dict[str, Any]:
    start, end = _period(first, last)
    t = transactions.c
    query = select(t.is_fraud, t.decision, t.risk_score, t.challenger_decision, t.challenger_risk_score,
                   t.model_version).where(
        t.timestamp >= start, t.timestamp < end, t.decision.is_not(None),
        t.challenger_model_version == challenger_version,
    )
    labels: list[float] = []
    blocked: list[bool] = []
    risk: list[float] = []
    challenger_blocked: list[bool] = []
    challenger_risk: list[float] = []
    champions: Counter[str] = Counter()
    with db.connect() as conn:
        result = conn.execution_options(yield_per=CHUNK_ROWS).execute(query)
        for rows in result.partitions():
            for is_fraud, decision, score, c_decision, c_score, version in rows:
                labels.append(np.nan if is_fraud is None else float(is_fraud))
                blocked.append(decision == BLOCKED)
                risk.append(score)
                challenger_blocked.append(c_decision == BLOCKED)
                challenger_risk.append(c_score)
                champions[version] += 1
    y = np.array(labels, dtype=np.float64)
    ours = np.array(blocked, dtype=bool)
    theirs = np.array(challenger_blocked, dtype=bool)
    labelled = ~np.isnan(y)
    fraud = labelled & (y == 1)
    changed = ours != theirs
    return {
        "period": {"from": first.isoformat(), "to": last.isoformat()},
        "transactions": int(len(y)),
        "labelled": int(labelled.sum()),
        "frauds": int(fraud.sum()),
        "champion": {"model_versions": dict(champions),
                     **_model_metrics(y, labelled, np.array(risk, dtype=np.float64), ours)},
        "challenger": {"model_version": challenger_version,
                       **_model_metrics(y, labelled, np.array(challenger_risk, dtype=np.float64), theirs)},
        "decisions_changed": {
            "total": int(changed.sum()),
            "approved_to_blocked": int((changed & theirs).sum()),
            "blocked_to_approved": int((changed & ours).sum()),
            "frauds_newly_blocked": int((changed & theirs & fraud).sum()),
            "frauds_newly_approved": int((changed & ours & fraud).sum()),
            "legitimate_newly_blocked": int((changed & theirs & labelled & ~fraud).sum()),
        },
    }


def _model_metrics(y: np.ndarray, labelled: np.ndarray, risk: np.ndarray, blocked: np.ndarray) -> dict[str, Any]:
    """Metrics that need both classes are None without them (the answer says so rather than guessing)."""
    metrics: dict[str, Any] = {"alert_rate": float(blocked.mean()) if len(blocked) else None,
                               "roc_auc": None, "average_precision": None,
                               "precision_at_threshold": None, "recall_at_threshold": None}
    truth = y[labelled].astype(int)
    if len(truth) and truth.min() != truth.max():
        metrics["roc_auc"] = float(roc_auc_score(truth, risk[labelled]))
        metrics["average_precision"] = float(average_precision_score(truth, risk[labelled]))
        alerts = blocked[labelled]
        true_alerts = int((alerts & (truth == 1)).sum())
        metrics["precision_at_threshold"] = true_alerts / int(alerts.sum()) if alerts.any() else 0.0
        metrics["recall_at_threshold"] = true_alerts / int(truth.sum())
    return metrics
