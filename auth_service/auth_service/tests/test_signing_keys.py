"""The signing key: given, or generated once (safely, even by several workers at once) for local runs."""

import stat
from concurrent.futures import ProcessPoolExecutor

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ImproperlyConfigured

from auth_service.signing_keys import (
    generate_private_key_once,
    public_jwk,
    public_pem,
    read_public_keys_file,
    resolve_private_key_pem,
)


def _private_pem(bits=2048) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_workers_starting_together_end_up_with_one_shared_key(tmp_path):
    path = tmp_path / "keys" / "jwt_private.pem"
    with ProcessPoolExecutor(max_workers=4) as pool:
        pems = list(pool.map(generate_private_key_once, [path] * 4))
    assert len(set(pems)) == 1
    assert path.read_text() == pems[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["jwt_private.pem"]  # no temporary files left
    assert generate_private_key_once(path) == pems[0]  # a restart keeps the key (and so the kid)


def test_local_key_is_generated_only_when_none_is_given(tmp_path):
    given = _private_pem()
    assert resolve_private_key_pem(inline=given, file="", local_dir=tmp_path) == given
    assert not (tmp_path / "jwt_private.pem").exists()
    generated = resolve_private_key_pem(inline="", file="", local_dir=tmp_path)
    assert generated == (tmp_path / "jwt_private.pem").read_text()


def test_key_file_is_read(tmp_path):
    path = tmp_path / "signing.pem"
    path.write_text(_private_pem())
    assert resolve_private_key_pem(inline="", file=str(path), local_dir=None) == path.read_text()


@pytest.mark.parametrize(
    ("inline", "file", "message"),
    [
        ("", "", "required when ENVIRONMENT=production"),
        ("not a key", "", "not an unencrypted PEM private key"),
        ("", "/nonexistent/key.pem", "cannot be read"),
        ("x", "/some/file", "not both"),
    ],
)
def test_unusable_key_configuration_is_refused_at_start(inline, file, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        resolve_private_key_pem(inline=inline, file=file, local_dir=None)


def test_a_weak_rsa_key_is_refused():
    with pytest.raises(ImproperlyConfigured, match="at least 2048 bits"):
        resolve_private_key_pem(inline=_private_pem(1024), file="", local_dir=None)


def test_extra_public_keys_file_may_hold_several_keys(tmp_path):
    first, second = public_pem(_private_pem()), public_pem(_private_pem())
    path = tmp_path / "extra.pem"
    path.write_text(f"# retiring key\n{first}\n# next key\n{second}")
    keys = read_public_keys_file(str(path))
    assert [public_jwk(key)["kid"] for key in keys] == [public_jwk(first)["kid"], public_jwk(second)["kid"]]
    assert read_public_keys_file("") == []


def test_extra_public_keys_file_without_a_key_is_refused(tmp_path):
    path = tmp_path / "extra.pem"
    path.write_text("nothing here")
    with pytest.raises(ImproperlyConfigured, match="holds no PEM public key"):
        read_public_keys_file(str(path))
