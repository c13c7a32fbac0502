"""Shapes of requests and answers. Rules about users themselves live in services.py."""

from django.contrib.auth.validators import UnicodeUsernameValidator
from rest_framework import serializers

from .models import User

PASSWORD_MAX_LENGTH = 128  # hashing a megabyte-long password would be a cheap denial of service


def _password_field() -> serializers.CharField:
    return serializers.CharField(
        write_only=True, trim_whitespace=False, min_length=1, max_length=PASSWORD_MAX_LENGTH,
        style={"input_type": "password"},
    )


class RegistrationSerializer(serializers.Serializer):
    # min_length=1 repeats "not blank" for the OpenAPI document (minLength), which schema fuzzers read.
    username = serializers.CharField(min_length=1, max_length=150, validators=[UnicodeUsernameValidator()])
    email = serializers.EmailField(max_length=254)
    password = _password_field()


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(min_length=1, max_length=150)
    password = _password_field()


class PasswordChangeSerializer(serializers.Serializer):
    old_password = _password_field()
    new_password = _password_field()


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField(min_length=1, max_length=4096)


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
