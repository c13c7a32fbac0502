"""Reference distributions in the artifacts and the population stability index (ml_model/drift.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ml_model.drift import PSI_ALERT, SCORE, psi, reference, shares


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    training = rng.lognormal(3.5, 0.6, 50_000)
    ref = reference(training)

    assert len(ref["cuts"]) == 9 and sum(ref["shares"]) == pytest.approx(1.0)
    assert ref["shares"] == pytest.approx([0.1] * 10, abs=1e-3)
    same = psi(ref["shares"], shares(rng.lognormal(3.5, 0.6, 5_000), ref["cuts"]))
    tripled = psi(ref["shares"], shares(3 * rng.lognormal(3.5, 0.6, 5_000), ref["cuts"]))
    assert same < 0.02 < PSI_ALERT < tripled


def test_a_flag_gets_one_bin_per_value():
    ref = reference(np.array([0.0] * 700 + [1.0] * 300))
    assert ref["cuts"] == [0.0, 1.0]
    assert ref["shares"] == pytest.approx([0.0, 0.7, 0.3])
    assert psi(ref["shares"], shares(np.array([0.0] * 70 + [1.0] * 30), ref["cuts"])) == pytest.approx(0.0)


def test_training_stores_a_reference_for_every_model_feature_and_the_score(trained_dir):
    metadata = json.loads((trained_dir / "model_metadata.json").read_text())
    stored = metadata["reference_distributions"]

    assert set(stored["features"]) == set(metadata["feature_columns"])
    for ref in (*stored["features"].values(), stored[SCORE]):
        assert len(ref["shares"]) == len(ref["cuts"]) + 1
        assert sum(ref["shares"]) == pytest.approx(1.0)
    # The risk score's median training transaction sits at 0.01 (ml_model.scoring), inside its middle bins.
    assert stored[SCORE]["cuts"][0] < 0.01 < stored[SCORE]["cuts"][-1]
