import numpy as np
import pandas as pd
import pytest

from ml_model.evaluation import card_precision_at_k, score_metrics


@pytest.fixture
def two_days():
    frame = pd.DataFrame({
        "tx_datetime": pd.to_datetime(["2025-01-01 01:00", "2025-01-01 02:00", "2025-01-01 03:00",
                                       "2025-01-02 01:00", "2025-01-02 05:00", "2025-01-02 06:00"]),
        "customer_id": ["a", "a", "b", "a", "b", "c"],
        "tx_fraud": [0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
    })
    return frame, np.array([0.1, 0.2, 0.9, 0.5, 0.4, 0.3])


def test_card_precision_ranks_customers_by_their_highest_score_each_day(two_days):
    frame, score = two_days
    assert card_precision_at_k(frame, score, k=1) == 0.0  # b on day 1, a on day 2: neither compromised
    assert card_precision_at_k(frame, score, k=2) == 0.25  # day 1: a (fraud) and b; day 2: a and b


def test_metrics_at_threshold_and_unlabelled_rows_left_out(two_days):
    frame, score = two_days
    frame.loc[0, "tx_fraud"] = np.nan
    result = score_metrics(frame, score, threshold=0.35)
    assert result["labelled"] == 5
    assert result["alert_rate"] == pytest.approx(3 / 6)
    assert result["precision_at_threshold"] == 0.0 and result["recall_at_threshold"] == 0.0
    assert result["roc_auc"] == 0.0  # both frauds (0.2, 0.3) score below every legitimate row


def test_no_labels_means_no_quality_metrics(two_days):
    frame, score = two_days
    frame["tx_fraud"] = np.nan
    result = score_metrics(frame, score, threshold=0.5)
    assert "roc_auc" not in result and result["alert_rate"] == pytest.approx(2 / 6)
