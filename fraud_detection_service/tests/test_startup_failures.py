"""The service refuses to start on unusable artifacts: one clear log line naming the file and the
problem, and a non-zero exit, never a running service with a model nobody verified."""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi_plumbing.testing import free_port

from tests.service_process import ServiceProcess, service_env


def _metadata(model_dir: Path) -> dict:
    return json.loads((model_dir / "model_metadata.json").read_text())


def _write_metadata(model_dir: Path, metadata: dict) -> None:
    (model_dir / "model_metadata.json").write_text(json.dumps(metadata))


def _missing_scaler(model_dir: Path) -> None:
    (model_dir / "scaler.pkl").unlink()


def _altered_model(model_dir: Path) -> None:
    with (model_dir / "isolation_forest_model.pkl").open("ab") as f:
        f.write(b"\0")


def _other_sklearn_version(model_dir: Path) -> None:
    metadata = _metadata(model_dir)
    metadata["library_versions"]["scikit-learn"] = "0.24.2"
    _write_metadata(model_dir, metadata)


def _width_mismatch(model_dir: Path) -> None:
    # A consistent but wrong folder (checksums updated): only the width check can catch it.
    columns = json.loads((model_dir / "feature_columns.json").read_text())[:-1]
    (model_dir / "feature_columns.json").write_text(json.dumps(columns))
    metadata = _metadata(model_dir)
    metadata["feature_columns"] = columns
    metadata["sha256"]["feature_columns.json"] = hashlib.sha256(
        (model_dir / "feature_columns.json").read_bytes()).hexdigest()
    _write_metadata(model_dir, metadata)


@pytest.mark.parametrize(
    ("break_artifacts", "file_name", "problem"),
    [
        (_missing_scaler, "scaler.pkl", "missing"),
        (_altered_model, "isolation_forest_model.pkl", "SHA-256 mismatch"),
        (_other_sklearn_version, "isolation_forest_model.pkl", "scikit-learn 0.24.2"),
        (_width_mismatch, "isolation_forest_model.pkl", "features but feature_columns.json lists"),
    ],
)
def test_broken_artifacts_stop_the_service_with_one_clear_line(
    tmp_path, model_dir, service_database_url, break_artifacts: Callable[[Path], None], file_name, problem
):
    broken = tmp_path / "model"
    shutil.copytree(model_dir, broken)
    break_artifacts(broken)
    _assert_refused(tmp_path, broken, service_database_url, file_name, problem)


def test_metadata_not_matching_the_pinned_digest_stops_the_service(tmp_path, model_dir, service_database_url):
    # A consistent folder (the altered file's checksum updated in the metadata): only the pin catches it.
    altered = tmp_path / "model"
    shutil.copytree(model_dir, altered)
    pinned = hashlib.sha256((altered / "model_metadata.json").read_bytes()).hexdigest()
    _width_mismatch(altered)
    _assert_refused(tmp_path, altered, service_database_url, "model_metadata.json",
                    "differs from the pinned MODEL_METADATA_SHA256", MODEL_METADATA_SHA256=pinned)


def _assert_refused(tmp_path, broken, database_url, file_name, problem, **settings):
    env = service_env(model_dir=broken, data_dir=tmp_path, database_url=database_url,
                      token=secrets.token_urlsafe(24), port=free_port(), **settings)
    process = ServiceProcess.start(env, tmp_path / "service.log")
    try:
        exit_code = process.wait_exit(timeout=60)
    finally:
        process.stop()
    assert exit_code == 3
    refusals = [json.loads(line) for line in process.log().splitlines() if "refusing to start" in line]
    assert len(refusals) == 1, process.log()
    assert refusals[0]["level"] == "CRITICAL"
    assert str(broken / file_name) in refusals[0]["message"] and problem in refusals[0]["message"]
    assert "Traceback" not in process.log()
