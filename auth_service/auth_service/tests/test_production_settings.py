"""Production settings, checked the way a deployment starts them: in a fresh process from the environment."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SERVICE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def production_env(tmp_path_factory):
    folder = tmp_path_factory.mktemp("production")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = folder / "jwt.pem"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "auth_service.settings",
        "ENVIRONMENT": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "auth.example.com",
        "JWT_PRIVATE_KEY_FILE": str(key_file),
        "DATA_DIR": str(folder / "data"),
    }


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=SERVICE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_reports_nothing_with_production_settings(production_env):
    result = manage(production_env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_production_does_not_generate_a_key(production_env):
    assert not (Path(production_env["DATA_DIR"]) / "keys").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY is required"),
        ({"DJANGO_SECRET_KEY": "django-insecure-" + "x" * 60}, "DJANGO_SECRET_KEY is required"),
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY is required"),
        ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS is required"),
        ({"JWT_PRIVATE_KEY_FILE": None}, "JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE is required"),
        ({"JWT_PRIVATE_KEY_FILE": None, "JWT_PRIVATE_KEY": "placeholder"}, "not an unencrypted PEM private key"),
    ],
    ids=["no-secret", "placeholder-secret", "short-secret", "no-hosts", "no-jwt-key", "bad-jwt-key"],
)
def test_production_refuses_to_start_on_defaults(production_env, change, message):
    env = {**production_env, **{name: value for name, value in change.items() if value is not None}}
    for name in [name for name, value in change.items() if value is None]:
        env.pop(name)
    result = manage(env, "check")
    assert result.returncode != 0
    assert message in result.stderr


def test_production_cookies_and_https(production_env):
    code = (
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS > 0)"
    )
    result = manage(production_env, "shell", "--verbosity", "0", "-c", code)
    assert result.stdout.split() == ["False", "True", "True", "True", "True"], result.stderr


def test_django_loads_the_settings_file_itself(production_env):
    # DJANGO_SETTINGS_MODULE names auth_service/settings.py, a module of its own (not a package re-export).
    code = "import auth_service.settings as m; print(m.__file__)"
    result = manage(production_env, "shell", "--verbosity", "0", "-c", code)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == SERVICE_DIR / "auth_service" / "settings.py"


def test_secrets_may_come_from_files_named_by_the_file_variables(production_env, tmp_path):
    key_file, url_file = tmp_path / "django_secret_key", tmp_path / "database_url"
    key_file.write_text(production_env["DJANGO_SECRET_KEY"] + "\n")
    url_file.write_text(f"sqlite:///{tmp_path / 'from-file.sqlite3'}\n")
    env = {**production_env, "DJANGO_SECRET_KEY_FILE": str(key_file), "DATABASE_URL_FILE": str(url_file)}
    env.pop("DJANGO_SECRET_KEY")
    code = "from django.conf import settings as s; print(s.SECRET_KEY); print(s.DATABASES['default']['NAME'])"
    result = manage(env, "shell", "--verbosity", "0", "-c", code)
    assert result.stdout.split() == [production_env["DJANGO_SECRET_KEY"], str(tmp_path / "from-file.sqlite3")], (
        result.stderr)

    both = manage({**env, "DJANGO_SECRET_KEY": production_env["DJANGO_SECRET_KEY"]}, "check")
    assert both.returncode != 0 and "Give DJANGO_SECRET_KEY or DJANGO_SECRET_KEY_FILE, not both" in both.stderr
    missing = manage({**env, "DATABASE_URL_FILE": str(tmp_path / "absent")}, "check")
    assert missing.returncode != 0 and "DATABASE_URL_FILE cannot be read" in missing.stderr
