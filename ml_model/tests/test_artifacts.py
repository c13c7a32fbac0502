import json
import shutil

import joblib
import numpy as np
import pytest
import sklearn

from ml_model.artifacts import (
    FEATURES_FILE,
    METADATA_FILE,
    MODEL_FILE,
    SCALER_FILE,
    ArtifactError,
    load_verified,
    sha256_of,
)
from ml_model.features import FEATURE_COLUMNS, build_features
from ml_model.scoring import anomaly_score
from ml_model.simulate import simulate_transactions


@pytest.fixture
def model_dir(trained_dir, tmp_path):
    copy = tmp_path / "models"
    shutil.copytree(trained_dir, copy)
    return copy


def _metadata(folder):
    return json.loads((folder / METADATA_FILE).read_text())


def _rewrite_metadata(folder, **changes):
    metadata = {**_metadata(folder), **changes}
    (folder / METADATA_FILE).write_text(json.dumps(metadata))


def test_metadata_describes_the_model_and_checksums_every_artifact(trained_dir):
    metadata = _metadata(trained_dir)
    for key in ("model_version", "created_at", "data_summary", "label_delay_days", "threshold",
                "risk_calibration", "metrics", "feature_columns", "hyper_parameters"):
        assert key in metadata, key
    assert metadata["library_versions"]["scikit-learn"] == sklearn.__version__
    assert set(metadata["sha256"]) == {MODEL_FILE, SCALER_FILE, FEATURES_FILE}
    for name, digest in metadata["sha256"].items():
        assert sha256_of(trained_dir / name) == digest
    assert json.loads((trained_dir / FEATURES_FILE).read_text()) == metadata["feature_columns"]
    assert metadata["metrics"]["evaluation"]["roc_auc"] > 0.5


def test_loaded_model_scores_features_in_the_recorded_column_order(trained_dir):
    loaded = load_verified(trained_dir)
    assert loaded.model.n_features_in_ == len(loaded.feature_columns)
    assert set(loaded.feature_columns) <= set(FEATURE_COLUMNS)
    raw = simulate_transactions(days=3, customers=20, terminals=20, seed=1)
    x = build_features(raw)[loaded.feature_columns].to_numpy()
    scores = anomaly_score(loaded.model, loaded.scaler.transform(x))
    assert ((scores > 0) & (scores <= 1)).all()


@pytest.mark.parametrize("name", [MODEL_FILE, SCALER_FILE, FEATURES_FILE, METADATA_FILE])
def test_missing_file_is_named(model_dir, name):
    (model_dir / name).unlink()
    with pytest.raises(ArtifactError, match=f"{name}: missing"):
        load_verified(model_dir)


def test_altered_pickle_is_refused_before_it_is_unpickled(model_dir, monkeypatch):
    with open(model_dir / MODEL_FILE, "ab") as f:
        f.write(b"tampered")
    monkeypatch.setattr(joblib, "load", lambda *a, **k: pytest.fail("unpickled an unverified file"))
    with pytest.raises(ArtifactError, match=f"{MODEL_FILE}: SHA-256 mismatch"):
        load_verified(model_dir)


def test_other_scikit_learn_version_is_refused(model_dir):
    metadata = _metadata(model_dir)
    _rewrite_metadata(model_dir, library_versions={**metadata["library_versions"], "scikit-learn": "0.24.2"})
    with pytest.raises(ArtifactError, match="scikit-learn 0.24.2"):
        load_verified(model_dir)


def test_feature_columns_not_matching_the_model_are_refused(model_dir):
    columns = _metadata(model_dir)["feature_columns"][:-1]
    (model_dir / FEATURES_FILE).write_text(json.dumps(columns))
    metadata = _metadata(model_dir)
    _rewrite_metadata(model_dir, feature_columns=columns,
                      sha256={**metadata["sha256"], FEATURES_FILE: sha256_of(model_dir / FEATURES_FILE)})
    with pytest.raises(ArtifactError, match=f"expects {len(columns) + 1} features"):
        load_verified(model_dir)


def test_unreadable_metadata_is_refused(model_dir):
    (model_dir / METADATA_FILE).write_text("{not json")
    with pytest.raises(ArtifactError, match=METADATA_FILE):
        load_verified(model_dir)


def test_threshold_and_calibration_round_trip(trained_dir):
    loaded = load_verified(trained_dir)
    assert loaded.calibration["threshold"] == loaded.threshold
    assert np.isfinite(loaded.threshold) and loaded.calibration["scale"] > 0
    assert loaded.label_delay_days == 7


def test_a_pickle_swapped_after_its_check_is_never_loaded(model_dir, monkeypatch):
    # The attack of a checked-then-reopened file: replace the pickle between the hash and the load.
    import builtins
    import io

    real_open = io.open
    opened = []

    def open_and_swap(file, mode="r", *args, **kwargs):
        if str(file) == str(model_dir / MODEL_FILE) and "r" in mode:
            opened.append(file)
            if len(opened) == 2:  # a second read of the same file: swap its content first
                joblib.dump({"not": "the verified model"}, model_dir / MODEL_FILE)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_and_swap)
    monkeypatch.setattr(io, "open", open_and_swap)  # pathlib's reads
    loaded = load_verified(model_dir)
    assert hasattr(loaded.model, "score_samples")
    assert len(opened) == 1


def test_pinned_metadata_digest_accepts_the_folder_it_names(model_dir):
    digest = sha256_of(model_dir / METADATA_FILE)
    assert load_verified(model_dir, metadata_sha256=digest.upper()).metadata["sha256"]


def test_a_consistently_rewritten_folder_is_refused_when_the_metadata_is_pinned(model_dir):
    pinned = sha256_of(model_dir / METADATA_FILE)
    # Someone with write access to the folder replaces a file AND its recorded checksum: without a pin
    # the folder verifies; with the digest pinned from outside it does not.
    columns = _metadata(model_dir)["feature_columns"]
    (model_dir / FEATURES_FILE).write_text(json.dumps(columns, indent=4))
    metadata = _metadata(model_dir)
    _rewrite_metadata(model_dir, sha256={**metadata["sha256"], FEATURES_FILE: sha256_of(model_dir / FEATURES_FILE)})
    load_verified(model_dir)
    refused = f"{METADATA_FILE}: SHA-256 .* differs from the pinned MODEL_METADATA_SHA256"
    with pytest.raises(ArtifactError, match=refused):
        load_verified(model_dir, metadata_sha256=pinned)
