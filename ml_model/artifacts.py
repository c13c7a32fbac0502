"""The model artifact folder: write it self-describing, load it only after verifying it.

Files: ``isolation_forest_model.pkl``, ``scaler.pkl``, ``feature_columns.json`` and
``model_metadata.json`` (version, creation time, data summary, library versions, label delay,
threshold and risk calibration, metrics, feature columns, SHA-256 of every other file).

``load_verified`` checks checksums *before* unpickling (a pickle runs code when loaded) and refuses
another scikit-learn version (a pickled forest is only trusted by the version that wrote it).
"""

from __future__ import annotations

import hashlib
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
METADATA_FILE = "model_metadata.json"
CHECKSUMMED_FILES = (MODEL_FILE, SCALER_FILE, FEATURES_FILE)


class ArtifactError(Exception):
    """An artifact folder that must not be used; the message names the file and the problem."""


@dataclass(frozen=True)
class LoadedModel:
    model: Any  # sklearn.ensemble.IsolationForest
    scaler: Any  # sklearn.preprocessing.StandardScaler
    feature_columns: list[str]
    metadata: dict[str, Any]

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
    output_dir: Path | str, *, model: Any, scaler: Any, feature_columns: list[str], metadata: dict[str, Any]
) -> dict[str, Any]:
    """Write the four files into ``output_dir`` all at once: into a sibling temporary folder first,
    then swapped in, so a failure never leaves a half-written artifact folder. Returns the metadata
    as written (with checksums, feature columns and library versions added)."""
    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}-", dir=output_dir.parent))
    try:
        joblib.dump(model, staging / MODEL_FILE)
        joblib.dump(scaler, staging / SCALER_FILE)
        (staging / FEATURES_FILE).write_text(json.dumps(list(feature_columns), indent=2) + "\n")
        metadata = {
            **metadata,
            "created_at": metadata.get("created_at") or datetime.now(UTC).isoformat(timespec="seconds"),
            "library_versions": library_versions(),
            "feature_columns": list(feature_columns),
            "sha256": {name: sha256_of(staging / name) for name in CHECKSUMMED_FILES},
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
        for name in (*CHECKSUMMED_FILES, METADATA_FILE):
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
            if item.name not in (*CHECKSUMMED_FILES, METADATA_FILE) and not (staging / item.name).exists():
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


def load_verified(model_dir: Path | str) -> LoadedModel:
    """Load the artifacts of ``model_dir`` after checking them; raises ``ArtifactError``."""
    model_dir = Path(model_dir)
    for name in (*CHECKSUMMED_FILES, METADATA_FILE):
        if not (model_dir / name).is_file():
            raise ArtifactError(f"{model_dir / name}: missing")
    metadata_path = model_dir / METADATA_FILE
    try:
        metadata = json.loads(metadata_path.read_text())
        expected = metadata["sha256"]
        recorded_sklearn = metadata["library_versions"]["scikit-learn"]
        threshold = float(metadata["threshold"])
        calibration = {k: float(v) for k, v in metadata["risk_calibration"].items()}
        int(metadata["label_delay_days"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ArtifactError(f"{metadata_path}: unreadable or incomplete metadata ({exc!r})") from None
    if not (calibration.get("scale", 0) > 0 and "threshold" in calibration and np.isfinite(threshold)):
        raise ArtifactError(f"{metadata_path}: invalid threshold or risk calibration")

    for name in CHECKSUMMED_FILES:
        if name not in expected:
            raise ArtifactError(f"{metadata_path}: no SHA-256 recorded for {name}")
        actual = sha256_of(model_dir / name)
        if actual != expected[name]:
            raise ArtifactError(
                f"{model_dir / name}: SHA-256 mismatch (recorded {expected[name]}, found {actual}); "
                "the file was altered or belongs to another training run"
            )
    if recorded_sklearn != sklearn.__version__:
        raise ArtifactError(
            f"{model_dir / MODEL_FILE}: trained with scikit-learn {recorded_sklearn}, "
            f"but {sklearn.__version__} is installed; retrain or install the recorded version"
        )

    try:
        feature_columns = json.loads((model_dir / FEATURES_FILE).read_text())
    except ValueError as exc:
        raise ArtifactError(f"{model_dir / FEATURES_FILE}: not valid JSON ({exc})") from None
    if not (isinstance(feature_columns, list) and all(isinstance(c, str) for c in feature_columns)):
        raise ArtifactError(f"{model_dir / FEATURES_FILE}: expected a JSON list of feature names")
    unknown = [c for c in feature_columns if c not in FEATURE_COLUMNS]
    if unknown:
        raise ArtifactError(f"{model_dir / FEATURES_FILE}: features this code cannot compute: {unknown}")
    if metadata.get("feature_columns") != feature_columns:
        raise ArtifactError(f"{model_dir / FEATURES_FILE}: differs from the feature columns in {METADATA_FILE}")

    model = joblib.load(model_dir / MODEL_FILE)
    scaler = joblib.load(model_dir / SCALER_FILE)
    for name, obj in ((MODEL_FILE, model), (SCALER_FILE, scaler)):
        n_in = getattr(obj, "n_features_in_", None)
        if n_in != len(feature_columns):
            raise ArtifactError(
                f"{model_dir / name}: expects {n_in} features but {FEATURES_FILE} lists {len(feature_columns)}"
            )
    if not hasattr(model, "score_samples"):
        raise ArtifactError(f"{model_dir / MODEL_FILE}: not an anomaly model (no score_samples)")
    return LoadedModel(model=model, scaler=scaler, feature_columns=feature_columns, metadata=metadata)
