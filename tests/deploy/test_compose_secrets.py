"""deploy/compose_secrets.py, the `secrets-init` service: secrets generated once, overrides, one private
folder per reader."""

from __future__ import annotations

import importlib.util
import os
import stat
from urllib.parse import unquote, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from k8s_support import REPO

spec = importlib.util.spec_from_file_location("compose_secrets", REPO / "deploy" / "compose_secrets.py")
compose_secrets = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compose_secrets)

READERS = {"postgres": 999, "auth-service": 10001, "transaction-service": 10001, "fraud-detection-service": 10001}
OVERRIDES = [variable for variable, _ in compose_secrets.SECRETS.values()]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="hands files to other users (chown): needs root, "
                                "as the container has")


@pytest.fixture
def volumes(tmp_path, monkeypatch):
    for variable in OVERRIDES:
        monkeypatch.delenv(variable, raising=False)
    store, out = tmp_path / "secrets", tmp_path / "out"
    store.mkdir()
    for reader in READERS:
        (out / reader).mkdir(parents=True)
    return store, out


def run(volumes) -> None:
    store, out = volumes
    assert compose_secrets.main(["--store", str(store), "--out", str(out)]) == 0


def read(out, reader: str) -> dict[str, str]:
    return {path.name: path.read_text() for path in (out / reader).iterdir()}


def test_a_fresh_start_generates_distinct_strong_secrets_readable_only_by_their_reader(volumes):
    run(volumes)
    store, out = volumes
    stored = {path.name: path.read_text() for path in store.iterdir()}
    assert set(stored) == set(compose_secrets.SECRETS)
    tokens = [value for name, value in stored.items() if not name.endswith(".pem")]
    assert len(set(tokens)) == len(tokens) and all(len(token) >= 50 for token in tokens)
    key = serialization.load_pem_private_key(stored["jwt_private_key.pem"].encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048
    for reader, uid in READERS.items():
        folder = out / reader
        assert (folder.stat().st_uid, stat.S_IMODE(folder.stat().st_mode)) == (uid, 0o700)
        for path in folder.iterdir():
            assert (path.stat().st_uid, stat.S_IMODE(path.stat().st_mode)) == (uid, 0o400), path
    assert stat.S_IMODE(store.stat().st_mode) == 0o700


def test_each_reader_gets_only_what_it_reads_and_the_urls_carry_the_database_passwords(volumes):
    run(volumes)
    store, out = volumes
    stored = {path.name: path.read_text() for path in store.iterdir()}
    assert set(read(out, "postgres")) == {"postgres_password", "auth_db_password", "transactions_db_password",
                                          "fraud_db_password"}
    assert set(read(out, "auth-service")) == {"database_url", "django_secret_key", "jwt_private_key.pem"}
    transaction, fraud = read(out, "transaction-service"), read(out, "fraud-detection-service")
    assert set(transaction) == set(fraud) == {"database_url", "internal_token"}
    assert transaction["internal_token"] == fraud["internal_token"] == stored["internal_token"]
    for reader, role in (("auth-service", "auth"), ("transaction-service", "transactions"),
                         ("fraud-detection-service", "fraud")):
        url = urlsplit(read(out, reader)["database_url"])
        assert (url.username, url.hostname, url.port, url.path) == (role, "postgres", 5432, f"/{role}")
        assert unquote(url.password) == read(out, "postgres")[f"{role}_db_password"]


def test_a_second_start_keeps_every_secret(volumes):
    run(volumes)
    _, out = volumes
    first = {reader: read(out, reader) for reader in READERS}
    run(volumes)
    assert {reader: read(out, reader) for reader in READERS} == first, "a new key would log every user out"


def test_a_value_from_the_environment_replaces_the_stored_one_everywhere(volumes, monkeypatch):
    run(volumes)
    _, out = volumes
    monkeypatch.setenv("INTERNAL_TOKEN", "token-chosen-by-the-operator-0123456789")
    monkeypatch.setenv("AUTH_DB_PASSWORD", "p@ss/word with:specials")
    run(volumes)
    assert read(out, "fraud-detection-service")["internal_token"] == "token-chosen-by-the-operator-0123456789"
    assert read(out, "postgres")["auth_db_password"] == "p@ss/word with:specials"
    url = urlsplit(read(out, "auth-service")["database_url"])
    assert (unquote(url.password), url.hostname) == ("p@ss/word with:specials", "postgres")
