"""docker-compose.yml: valid with no .env at all, wired as the services expect, secrets only through files
that the `secrets-init` service writes."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import PurePosixPath

import pytest
import yaml
from k8s_support import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
EXAMPLE = REPO / ".env.example"
APPLICATION_SERVICES = {"auth-service": 8000, "transaction-service": 8001, "fraud-detection-service": 8002}
SECRET_VARIABLES = re.compile(r"^(DATABASE_URL|INTERNAL_TOKEN|DJANGO_SECRET_KEY|JWT_PRIVATE_KEY|\w*PASSWORD)$")

spec = importlib.util.spec_from_file_location("compose_secrets", REPO / "deploy" / "compose_secrets.py")
compose_secrets = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compose_secrets)


def docker_compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


def compose_config(tmp_path, env_text: str = "") -> dict:
    """The configuration as Compose resolves it, with the given .env content (none: a fresh clone)."""
    if not docker_compose_available():
        pytest.skip("docker compose is not installed here; `make compose-test` installs and runs it")
    env_file = tmp_path / "test.env"
    env_file.write_text(env_text)
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config", "--format", "json"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_config_is_valid_without_any_env_file_and_wires_the_services(tmp_path):
    services = compose_config(tmp_path)["services"]
    assert set(services) == {"secrets-init", "postgres", *APPLICATION_SERVICES}
    for name, port in APPLICATION_SERVICES.items():
        assert [p["target"] for p in services[name]["ports"]] == [port]
        assert services[name]["ports"][0]["host_ip"] == "127.0.0.1"
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert services[name]["environment"]["ENVIRONMENT"] == "production"
        assert services[name]["image"].split(":")[-1] != "latest"
    for name in ("postgres", *APPLICATION_SERVICES):
        assert services[name]["depends_on"]["secrets-init"]["condition"] == "service_completed_successfully"
    transaction = services["transaction-service"]
    assert {d: c["condition"] for d, c in transaction["depends_on"].items()} == {
        "secrets-init": "service_completed_successfully", "postgres": "service_healthy",
        "auth-service": "service_healthy", "fraud-detection-service": "service_healthy"}
    assert transaction["environment"]["AUTH_JWKS_URL"] == "http://auth-service:8000/api/auth/jwks/"
    assert transaction["environment"]["FRAUD_SERVICE_URL"] == "http://fraud-detection-service:8002"
    # Unpinned by default: no value (null), so Compose leaves the variable out of the container.
    assert services["fraud-detection-service"]["environment"]["MODEL_METADATA_SHA256"] is None


def test_env_file_overrides_reach_the_secrets_init_service_and_the_model_pin(tmp_path):
    digest = "ab" * 32
    services = compose_config(tmp_path, f"INTERNAL_TOKEN=operator-token-0123456789\n"
                                        f"MODEL_METADATA_SHA256={digest}\nAUTH_PORT=9000\n")["services"]
    assert services["secrets-init"]["environment"]["INTERNAL_TOKEN"] == "operator-token-0123456789"
    fraud = services["fraud-detection-service"]
    assert fraud["environment"]["MODEL_METADATA_SHA256"] == digest
    assert fraud["build"]["args"]["MODEL_METADATA_SHA256"] == digest, "the build checks the artifacts too"
    assert services["auth-service"]["ports"][0]["published"] == "9000"


# The checks below read the file itself, so they hold without Docker too.
COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text())


def mounts(service: str) -> dict[str, str]:
    """Container path: source, of a service's volumes (short syntax)."""
    return {m.split(":")[1]: m.split(":")[0] for m in COMPOSE["services"][service].get("volumes", [])}


@pytest.mark.parametrize("service", ["postgres", *APPLICATION_SERVICES])
def test_secrets_reach_each_container_only_as_files_from_its_own_read_only_volume(service):
    environment = COMPOSE["services"][service]["environment"]
    assert not [name for name in environment if SECRET_VARIABLES.match(name)], "a secret in the environment"
    written = compose_secrets.consumers({name: "x" for name in compose_secrets.SECRETS})[service][1]
    file_variables = {name: PurePosixPath(path) for name, path in environment.items() if name.endswith("_FILE")}
    assert file_variables
    (folder,) = {path.parent for path in file_variables.values()}
    (volume_line,) = [m for m in COMPOSE["services"][service]["volumes"] if f":{folder}:" in m]
    volume = volume_line.split(":")[0]
    assert volume_line.endswith(":ro") and volume in COMPOSE["volumes"]
    # secrets-init writes that volume for this service, with exactly the files the variables name.
    assert mounts("secrets-init")[f"/out/{service}"] == volume
    assert {path.name for path in file_variables.values()} == set(written)
    others = [s for s in ("postgres", *APPLICATION_SERVICES) if s != service]
    assert all(volume not in mounts(other).values() for other in others), "another container reads them"


def test_the_generated_store_is_mounted_by_secrets_init_only():
    assert mounts("secrets-init")["/secrets"] == "secrets"
    for service in ("postgres", *APPLICATION_SERVICES):
        assert "secrets" not in mounts(service).values()
    init = COMPOSE["services"]["secrets-init"]
    assert init["restart"] == "no" and init["read_only"] is True and init["cap_drop"] == ["ALL"]
    assert (REPO / mounts("secrets-init")["/deploy/compose_secrets.py"]).is_file()


def test_postgres_is_not_published_and_has_a_volume_healthcheck_and_init_script():
    postgres = COMPOSE["services"]["postgres"]
    assert postgres["image"] == "postgres:15"
    assert "ports" not in postgres, "the host's 5432 is taken and the database must stay internal"
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert mounts("postgres")["/var/lib/postgresql/data"] == "postgres-data"
    assert (REPO / mounts("postgres")["/docker-entrypoint-initdb.d/10-init-databases.sh"]).is_file()
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"].endswith("/postgres_password")


def test_the_example_env_file_is_optional_and_holds_no_value_for_a_secret():
    text = COMPOSE_FILE.read_text()
    assert "-----BEGIN" not in text
    assert not re.findall(r"\$\{(\w+):?\?", text), "no variable may be required: the plain command needs no .env"
    settings = [line for line in EXAMPLE.read_text().splitlines() if line and not line.startswith("#")]
    assert settings == [], "every setting of the example is commented out"
    for name in re.findall(r"^#(\w+)=", EXAMPLE.read_text(), flags=re.MULTILINE):
        assert f"${{{name}" in text or re.search(rf"^\s+{name}:\s*$", text, re.MULTILINE), f"{name} is not used"
    assert ".env" in (REPO / ".gitignore").read_text().split()
