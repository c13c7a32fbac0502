"""Registration: valid users are created with Argon2 hashes; bad input is a 4xx naming the field and
writes nothing."""

import re

import pytest
from auth_service.config import base as production_base
from conftest import STRONG_PASSWORD, problem

from users.models import User

pytestmark = pytest.mark.django_db


def register(api, **fields):
    body = {"username": "mallory", "email": "mallory@example.com", "password": STRONG_PASSWORD, **fields}
    body = {name: value for name, value in body.items() if value is not None}
    return api.post("/api/auth/register/", body, format="json")


def test_registered_password_is_stored_as_an_argon2_hash(api):
    response = register(api)
    assert response.status_code == 201
    user = User.objects.get(username="mallory")
    assert user.password.startswith("argon2$argon2id$")
    assert STRONG_PASSWORD not in user.password
    assert user.check_password(STRONG_PASSWORD)
    assert user.is_staff is False


def test_service_hashes_with_argon2_first():
    # The suite swaps in a cheaper Argon2; the service's own list must start with Django's Argon2.
    assert production_base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"username": None}, "username", "required"),
        ({"email": None}, "email", "required"),
        ({"password": None}, "password", "required"),
        ({"username": ""}, "username", "blank"),
        ({"password": "short1"}, "password", "too short"),
        ({"password": "password123"}, "password", "too common"),
        ({"password": "8203948572019"}, "password", "entirely numeric"),
        ({"password": "mallory-example"}, "password", "too similar"),
        ({"password": "x" * 129}, "password", "no more than 128"),
        ({"username": "m" * 151}, "username", "no more than 150"),
        ({"email": "m" * 250 + "@example.com"}, "email", "no more than 254"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"username": "mal lory!"}, "username", "valid username"),
        ({"username": ["mallory"]}, "username", "valid string"),
        ({"password": 12345678901}, "password", "valid string"),
        # numbers are not strings (DRF took `"username": 0` as "0" and registered the user)
        ({"username": 0}, "username", "valid string"), ({"email": 1.5}, "email", "valid email"),
        ({"password": 1234567890.5}, "password", "valid string"),
    ],
)
def test_bad_field_is_refused_with_422_naming_it(api, fields, field, fragment):
    body = problem(register(api, **fields), 422)
    assert body["code"] == "validation_error"
    messages = [error["message"] for error in body["errors"] if error["field"] == field]
    assert messages, body["errors"]
    assert fragment in " ".join(messages).lower()
    assert field in body["detail"]
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"username": "ALICE", "email": "new@example.com"}, "username"),
        ({"username": "new", "email": "Alice@Example.COM"}, "email"),
    ],
)
def test_duplicate_username_or_email_is_refused_regardless_of_case(api, make_user, fields, field):
    make_user("alice")
    body = problem(register(api, **fields), 422)
    [error] = body["errors"]
    assert error["field"] == field
    assert "already exists" in error["message"]
    assert User.objects.count() == 1


def test_malformed_json_is_400(api):
    response = api.post("/api/auth/register/", '{"username": "x",', content_type="application/json")
    body = problem(response, 400)
    assert body["code"] == "malformed_json"
    assert [error["field"] for error in body["errors"]] == ["body"]
    assert not User.objects.exists()


def test_a_json_array_instead_of_an_object_is_refused(api):
    response = api.post("/api/auth/register/", [1, 2], format="json")
    assert [error["field"] for error in problem(response, 422)["errors"]] == ["body"]


def test_form_encoded_body_is_refused_as_unsupported(api):
    response = api.post("/api/auth/register/", {"username": "x"})  # multipart, not JSON
    assert problem(response, 415)["code"] == "unsupported_media_type"


def test_oversized_body_is_refused_with_413(api):
    response = register(api, email="m@example.com", padding="x" * 100_000)
    assert problem(response, 413)["code"] == "body_too_large"
    assert not User.objects.exists()


def _document_schema(api, name: str) -> dict:
    return api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["components"]["schemas"][name]


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("Xk3-vq9!Lm", True),  # the shortest the validators take
        ("Xk3-vq9!L", False),  # one shorter
        ("8203948572019", False),  # all digits
        ("820394857\u06f1", False),  # all digits, one of them Extended Arabic-Indic
        ("Xk3-vq9!Lm\u0000q", False),  # NUL
    ],
)
def test_the_documented_password_rule_is_the_one_registration_applies(api, password, accepted):
    # The document said any 1-128 characters while registration refused all-digit and short passwords with
    # 422, so a client (or a fuzzer) following the document was refused.
    documented = _document_schema(api, "Registration")["properties"]["password"]
    allowed = documented["minLength"] <= len(password) <= documented["maxLength"] and \
        re.search(documented["pattern"], password) is not None
    assert allowed is accepted
    assert register(api, password=password).status_code == (201 if accepted else 422)


def test_the_password_change_documents_the_same_rule(api):
    assert _document_schema(api, "PasswordChange")["properties"]["new_password"] == \
        _document_schema(api, "Registration")["properties"]["password"]
