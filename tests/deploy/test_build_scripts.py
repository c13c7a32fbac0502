"""scripts/build_images.sh and scripts/compose.sh: usage, tags, the model pin."""

from __future__ import annotations

import hashlib
import subprocess

import pytest
from k8s_support import REPO


@pytest.mark.parametrize("script", ["scripts/compose.sh", "scripts/build_images.sh"])
def test_scripts_explain_themselves_and_refuse_unknown_arguments(script):
    helped = subprocess.run([REPO / script, "--help"], capture_output=True, text=True, timeout=30)
    assert helped.returncode == 0 and helped.stdout.startswith("Usage:")
    wrong = subprocess.run([REPO / script, "--no-such-option"], capture_output=True, text=True, timeout=30)
    assert wrong.returncode == 2 and "Usage:" in wrong.stderr


def test_build_images_tags_every_image_with_version_and_commit_never_latest():
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                            cwd=REPO, check=True).stdout.strip()
    result = subprocess.run([REPO / "scripts" / "build_images.sh", "--dry-run", "--version", "1.2.3"],
                            capture_output=True, text=True, timeout=30, cwd=REPO)
    assert result.returncode == 0, result.stderr
    builds = [line for line in result.stdout.splitlines() if line.startswith("+ docker build")]
    assert len(builds) == 3
    for build in builds:
        tags = [word.removeprefix("--tag=") for word in build.split() if word.startswith("--tag=")]
        assert any(tag.endswith(f":1.2.3-{commit}") or tag.endswith(f":1.2.3-{commit}-dirty") for tag in tags)
        assert not any(tag.endswith(":latest") for tag in tags)
    fraud = next(b for b in builds if "fraud-detection-service:" in b)
    # The fraud image needs ml_model/ too: built from the repository root.
    assert "-f fraud_detection_service/Dockerfile" in fraud and fraud.endswith(" .")
    # The image is labelled with the digest of the model it carries, and the digest is printed to pin.
    metadata = REPO / "ml_model" / "models" / "model_metadata.json"
    if metadata.is_file():
        digest = hashlib.sha256(metadata.read_bytes()).hexdigest()
        assert f"--build-arg MODEL_METADATA_SHA256={digest}" in fraud
        assert f"MODEL_METADATA_SHA256={digest}" in result.stdout.splitlines()
    assert not any("MODEL_METADATA_SHA256" in b for b in builds if b is not fraud)
