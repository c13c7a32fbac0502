"""docker-compose.yml and its settings: valid for Compose, wired as the services expect, no secret in git."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml
from k8s_support import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
EXAMPLE = REPO / ".env.example"
APPLICATION_SERVICES = {"auth-service": 8000, "transaction-service": 8001, "fraud-detection-service": 8002}


def docker_compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def compose_config() -> dict:
    """The configuration as Compose resolves it (interpolated from .env.example)."""
    if not docker_compose_available():
        pytest.skip("docker compose is not installed here; `make compose-test` installs and runs it")
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "--env-file", str(EXAMPLE), "config", "--format", "json"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_config_is_valid_and_wires_the_services(compose_config):
    services = compose_config["services"]
    assert set(services) == {"postgres", *APPLICATION_SERVICES}
    for name, port in APPLICATION_SERVICES.items():
        assert [p["target"] for p in services[name]["ports"]] == [port]
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql://")
        assert services[name]["image"].split(":")[-1] != "latest"
    transaction = services["transaction-service"]
    assert {d: c["condition"] for d, c in transaction["depends_on"].items()} == {
        "postgres": "service_healthy", "auth-service": "service_healthy", "fraud-detection-service": "service_healthy"}
    assert transaction["environment"]["AUTH_JWKS_URL"] == "http://auth-service:8000/api/auth/jwks/"
    assert transaction["environment"]["FRAUD_SERVICE_URL"] == "http://fraud-detection-service:8002"
    assert transaction["environment"]["INTERNAL_TOKEN"] == services["fraud-detection-service"]["environment"][
        "INTERNAL_TOKEN"]


def test_compose_refuses_to_start_without_the_secrets(tmp_path):
    if not docker_compose_available():
        pytest.skip("docker compose is not installed here; `make compose-test` installs and runs it")
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = subprocess.run(["docker", "compose", "-f", str(COMPOSE_FILE), "--env-file", str(empty), "config"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode != 0 and "required variable" in result.stderr


# The checks below read the file itself, so they hold without Docker too.
COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text())


def test_postgres_is_not_published_and_has_a_volume_healthcheck_and_init_script():
    postgres = COMPOSE["services"]["postgres"]
    assert postgres["image"] == "postgres:15"
    assert "ports" not in postgres, "the host's 5432 is taken and the database must stay internal"
    assert "pg_isready" in postgres["healthcheck"]["test"]
    mounts = postgres["volumes"]
    assert any(m.startswith("postgres-data:/var/lib/postgresql/data") for m in mounts)
    init = next(m for m in mounts if "/docker-entrypoint-initdb.d/" in m)
    assert (REPO / init.split(":")[0]).is_file()


def test_each_service_uses_its_own_database_and_role():
    databases = {}
    for name in APPLICATION_SERVICES:
        url = COMPOSE["services"][name]["environment"]["DATABASE_URL"]
        user, database = re.match(r"postgresql://(\w+):\$\{\w+:\?}@postgres:5432/(\w+)$", url).groups()
        assert user == database
        databases[name] = database
    assert sorted(databases.values()) == ["auth", "fraud", "transactions"]


def test_secrets_come_from_the_env_file_and_the_example_holds_only_placeholders():
    text = COMPOSE_FILE.read_text()
    assert "-----BEGIN" not in text
    example = dict(line.split("=", 1) for line in EXAMPLE.read_text().splitlines()
                   if line and not line.startswith("#"))
    for name, value in example.items():
        if re.search(r"(PASSWORD|SECRET_KEY|_TOKEN)$", name):
            assert value == "change-me", name
    # Every variable Compose requires (${NAME:?...}) is in the example, so `cp .env.example .env` works.
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert required and required <= set(example)
    assert ".env" in (REPO / ".gitignore").read_text().split()
