"""Evaluation metrics of a fraud score on labelled transactions."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

CARDS_PER_DAY = 100


def card_precision_at_k(frame: pd.DataFrame, score: np.ndarray, k: int = CARDS_PER_DAY) -> float:
    """Per day, the share of truly compromised customers among the ``k`` customers with the highest
    score (a customer's score on a day = its highest transaction score), averaged over days."""
    per_card = (
        pd.DataFrame(
            {
                "day": frame["tx_datetime"].dt.floor("D").to_numpy(),
                "customer": frame["customer_id"].to_numpy(),
                "score": score,
                "fraud": frame["tx_fraud"].to_numpy(),
            }
        )
        .groupby(["day", "customer"], sort=False)
        .agg(score=("score", "max"), fraud=("fraud", "max"))
        .reset_index()
    )
    top = per_card.sort_values(["day", "score"], ascending=[True, False]).groupby("day").head(k)
    return float(top.groupby("day")["fraud"].sum().div(k).mean())


def score_metrics(frame: pd.DataFrame, score: np.ndarray, threshold: float | None = None) -> dict[str, float]:
    """ROC AUC, average precision and card precision@100 of ``score`` against ``frame['tx_fraud']``
    (rows without a label are left out), plus precision/recall/alert rate at ``threshold``."""
    labelled = frame["tx_fraud"].notna().to_numpy()
    result: dict[str, float] = {"transactions": int(len(frame)), "labelled": int(labelled.sum())}
    if threshold is not None:
        result["alert_rate"] = float(np.mean(score >= threshold)) if len(score) else 0.0
    y = frame["tx_fraud"].to_numpy()[labelled].astype(int)
    s = score[labelled]
    if len(y) == 0 or y.min() == y.max():
        return result  # metrics need both classes
    result["fraud_rate"] = float(y.mean())
    result["roc_auc"] = float(roc_auc_score(y, s))
    result["average_precision"] = float(average_precision_score(y, s))
    result["card_precision_at_100"] = card_precision_at_k(frame[labelled], s)
    if threshold is not None:
        alerts = s >= threshold
        true_alerts = int((alerts & (y == 1)).sum())
        result["precision_at_threshold"] = true_alerts / int(alerts.sum()) if alerts.any() else 0.0
        result["recall_at_threshold"] = true_alerts / int(y.sum())
    return result
