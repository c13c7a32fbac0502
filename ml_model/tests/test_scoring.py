import numpy as np
import pytest

from ml_model import scoring


def test_risk_is_one_half_exactly_at_the_threshold_and_monotone():
    calibration = scoring.fit_calibration(np.linspace(0.3, 0.7, 1001), threshold=0.6)
    assert scoring.risk_score(0.6, calibration) == 0.5
    grid = np.linspace(0.0, 1.0, 501)
    risk = scoring.risk_score(grid, calibration)
    assert (np.diff(risk) > 0).all()
    assert risk.min() >= 0 and risk.max() <= 1
    assert scoring.risk_score(np.median(np.linspace(0.3, 0.7, 1001)), calibration) == pytest.approx(0.01)


def test_blocked_iff_anomaly_score_reaches_the_threshold():
    decisions = scoring.decision(np.array([0.59, 0.6, 0.61]), 0.6)
    assert decisions.tolist() == ["APPROVED", "BLOCKED", "BLOCKED"]


def test_extreme_scores_stay_within_zero_and_one():
    calibration = {"threshold": 0.5, "scale": 1e-6}
    assert scoring.risk_score(np.array([-1e6, 1e6]), calibration).tolist() == [0.0, 1.0]


def test_degenerate_training_scores_still_give_a_usable_calibration():
    calibration = scoring.fit_calibration(np.full(10, 0.5), threshold=0.5)
    assert calibration["scale"] > 0
    assert scoring.risk_score(0.5, calibration) == 0.5
