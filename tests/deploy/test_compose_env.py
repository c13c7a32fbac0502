"""scripts/compose_env.py: the .env and signing key that `scripts/compose.sh` creates on first use."""

from __future__ import annotations

import importlib.util
import stat
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from k8s_support import REPO

sys.path.insert(0, str(REPO / "scripts"))  # compose_env imports local_env, its neighbour
spec = importlib.util.spec_from_file_location("compose_env", REPO / "scripts" / "compose_env.py")
compose_env = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compose_env)


@pytest.fixture
def project(tmp_path):
    (tmp_path / ".env.example").write_text((REPO / ".env.example").read_text())
    return tmp_path


def run(project):
    return compose_env.main(["--env-file", str(project / ".env"), "--example", str(project / ".env.example")])


def test_first_run_replaces_every_placeholder_with_a_distinct_random_value(project):
    assert run(project) == 0
    values = compose_env.read_env_file(project / ".env")
    assert "change-me" not in values.values()
    secrets = [values[k] for k in ("POSTGRES_PASSWORD", "AUTH_DB_PASSWORD", "DJANGO_SECRET_KEY", "INTERNAL_TOKEN")]
    assert len(set(secrets)) == len(secrets) and all(len(s) >= 50 for s in secrets)
    assert values["FRAUD_FALLBACK_POLICY"] == "block", "non-secret settings are copied as they are"
    assert stat.S_IMODE((project / ".env").stat().st_mode) == 0o600


def test_a_second_run_keeps_existing_values_and_fills_only_new_placeholders(project):
    run(project)
    env = project / ".env"
    env.write_text(env.read_text().replace("FRAUD_FALLBACK_POLICY=block", "FRAUD_FALLBACK_POLICY=approve")
                   + "NEW_SECRET=change-me\n")
    before = compose_env.read_env_file(env)
    run(project)
    after = compose_env.read_env_file(env)
    assert after["FRAUD_FALLBACK_POLICY"] == "approve"
    assert after["INTERNAL_TOKEN"] == before["INTERNAL_TOKEN"]
    assert after["NEW_SECRET"] not in ("", "change-me")


def test_the_signing_key_is_a_2048_bit_rsa_key_in_a_private_folder_and_is_never_replaced(project):
    run(project)
    key_path = project / "data" / "compose" / "jwt_private.pem"
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert stat.S_IMODE(key_path.parent.stat().st_mode) == 0o700
    first = key_path.read_bytes()
    run(project)
    assert key_path.read_bytes() == first, "rotating the key would log every user out"


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
