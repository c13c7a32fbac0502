"""Shapes of requests and answers. Rules about users themselves live in services.py."""

from django.contrib.auth.password_validation import MinimumLengthValidator, get_default_password_validators
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import User

PASSWORD_MAX_LENGTH = 128  # hashing a megabyte-long password would be a cheap denial of service


class _StringsOnly:
    """A JSON string, as the document says (`type: string`): DRF alone turns a number into its text, so
    `"username": 0` registered the user "0"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StringField(_StringsOnly, serializers.CharField):
    pass


class EmailStringField(_StringsOnly, serializers.EmailField):
    pass


def _password_field() -> serializers.CharField:
    return StringField(
        write_only=True, trim_whitespace=False, min_length=1, max_length=PASSWORD_MAX_LENGTH,
        style={"input_type": "password"},
    )


# The configured validators themselves (Django builds them once), not their settings re-read by name.
PASSWORD_MIN_LENGTH = max((validator.min_length for validator in get_default_password_validators()
                           if isinstance(validator, MinimumLengthValidator)), default=1)


# A new password is checked by the password validators (users/services.py), not by the field, so that one
# answer names every rule it breaks. The document states those rules, as far as JSON Schema can: the length,
# and at least one character that is neither a digit nor NUL; the rest in words.
NEW_PASSWORD_SCHEMA = {
    "type": "string", "writeOnly": True, "minLength": PASSWORD_MIN_LENGTH, "maxLength": PASSWORD_MAX_LENGTH,
    "pattern": "^[^\\u0000]*[^\\d\\u0000][^\\u0000]*$",
    "description": f"At least {PASSWORD_MIN_LENGTH} characters, not all digits, no NUL character, not a "
                   "commonly used password and not too similar to the username or email address; a password "
                   "refused by any of these rules is answered 422 naming the field with every rule it breaks.",
}


@extend_schema_field(NEW_PASSWORD_SCHEMA)
class NewPasswordField(StringField):
    def __init__(self) -> None:
        super().__init__(write_only=True, trim_whitespace=False, min_length=1, max_length=PASSWORD_MAX_LENGTH,
                         style={"input_type": "password"})


REFRESH_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 4096,
                  "description": "A refresh token from login or refresh; any other string is answered 401 "
                                 "`invalid_token`."}


@extend_schema_field(REFRESH_SCHEMA)
class RefreshTokenField(StringField):
    """Any string is a candidate token: what is not a valid one (blank, spaces, a NUL...) is refused by the
    token check as 401 invalid_token, the answer the document promises, not as a 422 from the field."""

    def __init__(self) -> None:
        super().__init__(max_length=4096, allow_blank=True)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]


class RegistrationSerializer(serializers.Serializer):
    # min_length=1 repeats "not blank" for the OpenAPI document (minLength), which schema fuzzers read.
    username = StringField(min_length=1, max_length=150, validators=[UnicodeUsernameValidator()])
    email = EmailStringField(max_length=254)
    password = NewPasswordField()


class LoginSerializer(serializers.Serializer):
    username = StringField(min_length=1, max_length=150)
    password = _password_field()


class PasswordChangeSerializer(serializers.Serializer):
    old_password = _password_field()
    new_password = NewPasswordField()


class RefreshSerializer(serializers.Serializer):
    refresh = RefreshTokenField()


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "is_staff", "date_joined", "last_login"]
        read_only_fields = fields


class JWKSerializer(serializers.Serializer):
    kty = serializers.CharField()
    kid = serializers.CharField()
    use = serializers.CharField()
    alg = serializers.CharField()
    n = serializers.CharField()
    e = serializers.CharField()


class JWKSSerializer(serializers.Serializer):
    keys = JWKSerializer(many=True)
