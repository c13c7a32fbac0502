"""The model artifact folder: write it self-describing, load it only after verifying it.

Files: ``isolation_forest_model.pkl``, ``scaler.pkl``, ``feature_columns.json``, for a ``hybrid`` model
also ``classifier_model.pkl``, and ``model_metadata.json`` (kind, version, creation time, data summary,
library versions, label delay, threshold and risk calibration, metrics, feature columns, SHA-256 of
every other file).

``load_verified`` reads each file once, checks the SHA-256 of those bytes and only then unpickles
*the same bytes* (a pickle runs code when loaded, and a file reopened after its check could have been
swapped in between). The expected digests come from the metadata file, whose own digest can be pinned
from outside the folder (``metadata_sha256``: a setting, an image label, a ConfigMap). Another
scikit-learn version is refused (a pickled model is only trusted by the version that wrote it).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn

from ml_model.features import FEATURE_COLUMNS

MODEL_FILE = "isolation_forest_model.pkl"
SCALER_FILE = "scaler.pkl"
FEATURES_FILE = "feature_columns.json"
CLASSIFIER_FILE = "classifier_model.pkl"
METADATA_FILE = "model_metadata.json"
CHECKSUMMED_FILES = (MODEL_FILE, SCALER_FILE, FEATURES_FILE)
ALL_ARTIFACT_FILES = (*CHECKSUMMED_FILES, CLASSIFIER_FILE, METADATA_FILE)
ISOLATION_FOREST = "isolation_forest"
HYBRID = "hybrid"
MODEL_KINDS = (ISOLATION_FOREST, HYBRID)
# The classifier of a hybrid model reads the model's features, then the forest's anomaly score.
ANOMALY_SCORE_INPUT = "isolation_forest_anomaly_score"


class ArtifactError(Exception):
    """An artifact folder that must not be used; the message names the file and the problem."""


@dataclass(frozen=True)
class LoadedModel:
    model: Any  # sklearn.ensemble.IsolationForest
    scaler: Any  # sklearn.preprocessing.StandardScaler
    feature_columns: list[str]
    metadata: dict[str, Any]
    classifier: Any = None  # sklearn.ensemble.HistGradientBoostingClassifier of a hybrid model

    @property
    def kind(self) -> str:
        """``isolation_forest`` (score = anomaly score) or ``hybrid`` (score = the classifier's fraud
        probability, with the forest's anomaly score as one of its inputs)."""
        return model_kind(self.metadata)

    @property
    def threshold(self) -> float:
        return float(self.metadata["threshold"])

    @property
    def calibration(self) -> dict[str, float]:
        return self.metadata["risk_calibration"]

    @property
    def model_version(self) -> str:
        return str(self.metadata["model_version"])

    @property
    def label_delay_days(self) -> int:
        return int(self.metadata["label_delay_days"])


def model_kind(metadata: dict[str, Any]) -> str:
    # Folders written before the hybrid kind existed hold an Isolation Forest and no "model_kind".
    return str(metadata.get("model_kind", ISOLATION_FOREST))


def checksummed_files(kind: str) -> tuple[str, ...]:
    return (*CHECKSUMMED_FILES, CLASSIFIER_FILE) if kind == HYBRID else CHECKSUMMED_FILES


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
    }


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_artifacts(
    output_dir: Path | str, *, model: Any, scaler: Any, feature_columns: list[str], metadata: dict[str, Any],
    classifier: Any = None,
) -> dict[str, Any]:
    """Write the artifact files into ``output_dir`` all at once: into a sibling temporary folder first,
    then swapped in, so a failure never leaves a half-written artifact folder. With ``classifier`` the
    folder is a ``hybrid`` model. Returns the metadata as written (with kind, checksums, feature
    columns and library versions added)."""
    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    kind = HYBRID if classifier is not None else ISOLATION_FOREST
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}-", dir=output_dir.parent))
    try:
        joblib.dump(model, staging / MODEL_FILE)
        joblib.dump(scaler, staging / SCALER_FILE)
        if classifier is not None:
            joblib.dump(classifier, staging / CLASSIFIER_FILE)
        (staging / FEATURES_FILE).write_text(json.dumps(list(feature_columns), indent=2) + "\n")
        metadata = {
            **metadata,
            "model_kind": kind,
            "created_at": metadata.get("created_at") or datetime.now(UTC).isoformat(timespec="seconds"),
            "library_versions": library_versions(),
            "feature_columns": list(feature_columns),
            "sha256": {name: sha256_of(staging / name) for name in checksummed_files(kind)},
        }
        (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=_json_default) + "\n")
        _swap_in(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return metadata


def install_artifacts(source_dir: Path | str, output_dir: Path | str) -> None:
    """Copy the artifact folder ``source_dir`` over ``output_dir`` all at once (the fraud service's
    promotion of a challenger). The copy is verified before it is swapped in: ``ArtifactError`` leaves
    ``output_dir`` as it was."""
    output_dir = Path(output_dir)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}-", dir=output_dir.parent))
    try:
        for name in ALL_ARTIFACT_FILES:  # a forest's folder has no classifier file
            if (Path(source_dir) / name).is_file():
                shutil.copy2(Path(source_dir) / name, staging / name)
        load_verified(staging)
        _swap_in(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap_in(staging: Path, output_dir: Path) -> None:
    """Replace ``output_dir`` with ``staging``; files other than the artifacts in an existing
    folder (reports a person put there) are carried over."""
    if output_dir.exists():
        for item in output_dir.iterdir():
            if item.name not in ALL_ARTIFACT_FILES and not (staging / item.name).exists():
                os.replace(item, staging / item.name)
        retired = output_dir.with_name(f".{output_dir.name}-old-{os.getpid()}")
        os.replace(output_dir, retired)
        os.replace(staging, output_dir)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, output_dir)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (datetime, pd.Timestamp)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing") from None
    except OSError as exc:
        raise ArtifactError(f"{path}: unreadable ({exc.strerror or exc})") from None


def load_verified(model_dir: Path | str, *, metadata_sha256: str | None = None) -> LoadedModel:
    """Load the artifacts of ``model_dir`` after checking them; raises ``ArtifactError``.

    ``metadata_sha256`` pins the metadata file itself (the digests of the other files are in it), so a
    folder rewritten as a whole, metadata included, is refused too."""
    model_dir = Path(model_dir)
    metadata_path = model_dir / METADATA_FILE
    metadata_bytes = _read(metadata_path)
    if metadata_sha256 is not None:
        actual = hashlib.sha256(metadata_bytes).hexdigest()
        if actual != metadata_sha256.strip().lower():
            raise ArtifactError(
                f"{metadata_path}: SHA-256 {actual} differs from the pinned MODEL_METADATA_SHA256 "
                f"{metadata_sha256}; the folder is not the model this deployment was configured for"
            )
    try:
        metadata = json.loads(metadata_bytes)
        expected = metadata["sha256"]
        recorded_sklearn = metadata["library_versions"]["scikit-learn"]
        threshold = float(metadata["threshold"])
        calibration = {k: float(v) for k, v in metadata["risk_calibration"].items()}
        int(metadata["label_delay_days"])
        kind = model_kind(metadata)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ArtifactError(f"{metadata_path}: unreadable or incomplete metadata ({exc!r})") from None
    if kind not in MODEL_KINDS:
        raise ArtifactError(f"{metadata_path}: unknown model_kind {kind!r} (known: {', '.join(MODEL_KINDS)})")
    if not (calibration.get("scale", 0) > 0 and "threshold" in calibration and np.isfinite(threshold)):
        raise ArtifactError(f"{metadata_path}: invalid threshold or risk calibration")

    verified: dict[str, bytes] = {}
    for name in checksummed_files(kind):
        if name not in expected:
            raise ArtifactError(f"{metadata_path}: no SHA-256 recorded for {name}")
        content = _read(model_dir / name)
        actual = hashlib.sha256(content).hexdigest()
        if actual != expected[name]:
            raise ArtifactError(
                f"{model_dir / name}: SHA-256 mismatch (recorded {expected[name]}, found {actual}); "
                "the file was altered or belongs to another training run"
            )
        verified[name] = content
    if recorded_sklearn != sklearn.__version__:
        raise ArtifactError(
            f"{model_dir / MODEL_FILE}: trained with scikit-learn {recorded_sklearn}, "
            f"but {sklearn.__version__} is installed; retrain or install the recorded version"
        )

    try:
        feature_columns = json.loads(verified[FEATURES_FILE])
    except ValueError as exc:
        raise ArtifactError(f"{model_dir / FEATURES_FILE}: not valid JSON ({exc})") from None
    if not (isinstance(feature_columns, list) and all(isinstance(c, str) for c in feature_columns)):
        raise ArtifactError(f"{model_dir / FEATURES_FILE}: expected a JSON list of feature names")
    unknown = [c for c in feature_columns if c not in FEATURE_COLUMNS]
    if unknown:
        raise ArtifactError(f"{model_dir / FEATURES_FILE}: features this code cannot compute: {unknown}")
    if metadata.get("feature_columns") != feature_columns:
        raise ArtifactError(f"{model_dir / FEATURES_FILE}: differs from the feature columns in {METADATA_FILE}")

    # From the verified bytes, never from the path again.
    model = joblib.load(io.BytesIO(verified[MODEL_FILE]))
    scaler = joblib.load(io.BytesIO(verified[SCALER_FILE]))
    classifier = joblib.load(io.BytesIO(verified[CLASSIFIER_FILE])) if kind == HYBRID else None
    widths = [(MODEL_FILE, model, len(feature_columns)), (SCALER_FILE, scaler, len(feature_columns))]
    if classifier is not None:
        widths.append((CLASSIFIER_FILE, classifier, len(feature_columns) + 1))  # + the anomaly score
    for name, obj, width in widths:
        n_in = getattr(obj, "n_features_in_", None)
        if n_in != width:
            raise ArtifactError(
                f"{model_dir / name}: expects {n_in} features but {FEATURES_FILE} lists {len(feature_columns)}"
                + (" (+ the anomaly score)" if name == CLASSIFIER_FILE else "")
            )
    if not hasattr(model, "score_samples"):
        raise ArtifactError(f"{model_dir / MODEL_FILE}: not an anomaly model (no score_samples)")
    if classifier is not None and list(getattr(classifier, "classes_", [])) != [0, 1]:
        raise ArtifactError(f"{model_dir / CLASSIFIER_FILE}: not a fraud classifier (classes must be 0 and 1)")
    return LoadedModel(model=model, scaler=scaler, feature_columns=feature_columns, metadata=metadata,
                       classifier=classifier)
