"""`manage.py ensure_staff_user`: the demo's analyst account, created or updated without prompts, its
password taken from the environment or standard input, never from the command line."""

import io

import pytest
from conftest import STRONG_PASSWORD
from django.core.management import CommandError, call_command

from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_staff_password(monkeypatch):
    monkeypatch.delenv("STAFF_PASSWORD", raising=False)


def ensure(monkeypatch, password, **options):
    monkeypatch.setenv("STAFF_PASSWORD", password)
    call_command("ensure_staff_user", **options)
    return User.objects.get(username=options["username"])


def test_creates_a_staff_user_who_can_log_in_and_use_the_admin(client, login, monkeypatch):
    user = ensure(monkeypatch, STRONG_PASSWORD, username="analyst", email="analyst@example.com")
    assert user.is_staff and user.password.startswith("argon2$")
    assert login("analyst").status_code == 200
    assert client.login(username="analyst", password=STRONG_PASSWORD)
    # Staff may enter the admin; managing users needs the permission (or superuser) as usual.
    assert client.get("/admin/").status_code == 200


def test_running_it_again_updates_password_and_restores_staff(make_user, login, monkeypatch):
    make_user("analyst")
    User.objects.filter(username="analyst").update(is_active=False)
    user = ensure(monkeypatch, "another-Strong-pass-42", username="analyst")
    assert user.is_staff and user.is_active
    assert login("analyst", "another-Strong-pass-42").status_code == 200
    assert User.objects.count() == 1


def test_password_can_come_from_standard_input(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(STRONG_PASSWORD + "\n"))
    call_command("ensure_staff_user", "--username", "analyst", "--password-stdin")
    assert User.objects.get(username="analyst").check_password(STRONG_PASSWORD)


def test_a_password_on_the_command_line_is_refused(monkeypatch):
    monkeypatch.setenv("STAFF_PASSWORD", STRONG_PASSWORD)  # even with a usable one in the environment
    with pytest.raises(CommandError, match="visible to every user"):
        call_command("ensure_staff_user", "--username", "analyst", "--password", STRONG_PASSWORD)
    assert not User.objects.exists()


def test_weak_or_missing_password_is_refused_and_nothing_is_created(monkeypatch):
    with pytest.raises(CommandError, match="STAFF_PASSWORD"):
        call_command("ensure_staff_user", username="analyst")
    monkeypatch.setenv("STAFF_PASSWORD", "password123")
    with pytest.raises(CommandError, match="password: .*too common"):
        call_command("ensure_staff_user", username="analyst")
    assert not User.objects.exists()


def test_an_email_already_used_by_someone_else_is_refused(make_user, monkeypatch):
    make_user("alice")
    make_user("analyst")
    monkeypatch.setenv("STAFF_PASSWORD", STRONG_PASSWORD)
    with pytest.raises(CommandError, match="email: A user with that email address already exists"):
        call_command("ensure_staff_user", username="analyst", email="ALICE@example.com")
    assert User.objects.get(username="analyst").is_staff is False


def test_admin_form_reports_a_duplicate_email_instead_of_failing(admin_client, make_user):
    make_user("alice")
    bob = make_user("bob")
    page = admin_client.post(
        f"/admin/users/user/{bob.pk}/change/",
        {"username": "bob", "email": "Alice@example.com", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"},
    )
    assert page.status_code == 200
    assert "A user with that email address already exists." in page.content.decode()
    bob.refresh_from_db()
    assert bob.email == "bob@example.com"
