"""Thin views: validate the shape with a serializer, call a service, serialize the result."""

import logging

from auth_service.metrics import PASSWORD_CHANGES
from auth_service.openapi import problems
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from . import login_guard, services, throttling
from .login_guard import LoginAttempt
from .serializers import (
    JWKSSerializer,
    LoginSerializer,
    PasswordChangeSerializer,
    RefreshSerializer,
    RegistrationSerializer,
    TokenPairSerializer,
    UserSerializer,
)
from .tokens import RefreshToken, SessionExpired, token_backend

logger = logging.getLogger(__name__)


class PublicView(APIView):
    """Anyone may call it; no session cookie is looked at (so no CSRF either)."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    def get_authenticate_header(self, request) -> str:
        # Without it DRF turns 401 (bad credentials, bad refresh token) into 403.
        return 'Bearer realm="api"'


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _refresh_token(raw: str) -> RefreshToken:
    try:
        return RefreshToken(raw)
    except TokenError as exc:
        raise InvalidToken({"detail": str(exc)}) from exc


def _wait_for_turn(attempt: LoginAttempt) -> None:
    """429 when this username+IP (or this IP) must still wait; the password is not looked at then."""
    wait = login_guard.seconds_to_wait(attempt)
    if wait:
        raise Throttled(wait=wait)


class RegisterView(PublicView):
    @extend_schema(request=RegistrationSerializer, responses={201: UserSerializer, **problems(429)})
    def post(self, request):
        data = _valid(RegistrationSerializer, request)
        ip, username = throttling.client_ip(request), data["username"].lower()
        throttling.enforce(("registrations_per_ip", ip), ("registration_failures_per_username", username))
        throttling.record(("registrations_per_ip", ip))
        try:
            user = services.user_create(**data)
        except ValidationError:
            throttling.record(("registration_failures_per_username", username))
            raise
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginView(PublicView):
    @extend_schema(request=LoginSerializer, responses={200: TokenPairSerializer, **problems(401, 429)})
    def post(self, request):
        data = _valid(LoginSerializer, request)
        attempt = LoginAttempt.of(request, data["username"], via="api")
        _wait_for_turn(attempt)
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None:  # wrong password, unknown or inactive user: indistinguishable on purpose
            login_guard.failed(attempt)
            raise AuthenticationFailed("No active account found with these credentials.", "invalid_credentials")
        login_guard.succeeded(attempt)
        return Response(services.session_start(user=user))


class RefreshView(PublicView):
    @extend_schema(request=RefreshSerializer, responses={200: TokenPairSerializer, **problems(401)})
    def post(self, request):
        refresh = _refresh_token(_valid(RefreshSerializer, request)["refresh"])
        try:
            return Response(services.session_refresh(refresh=refresh))
        except SessionExpired as exc:
            raise InvalidToken({"detail": str(exc)}, code="session_expired") from exc
        except TokenError as exc:
            raise InvalidToken({"detail": str(exc)}) from exc


class PasswordChangeView(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(request=PasswordChangeSerializer, responses={204: None, **problems(429)})
    def post(self, request):
        data = _valid(PasswordChangeSerializer, request)
        user = request.user
        # A stolen access token must not become a way to guess the password: same guard as the login.
        attempt = LoginAttempt.of(request, user.username, via="password_change")
        _wait_for_turn(attempt)
        if not user.check_password(data["old_password"]):
            login_guard.failed(attempt)
            raise ValidationError({"old_password": ["The current password is not correct."]})
        services.password_change(user=user, new_password=data["new_password"])
        PASSWORD_CHANGES.inc()
        logger.info("password changed by user %s; every session of theirs ended", user.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutView(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(request=RefreshSerializer, responses={204: None, **problems(403)})
    def post(self, request):
        refresh = _refresh_token(_valid(RefreshSerializer, request)["refresh"])
        services.session_end(refresh=refresh, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(responses={200: UserSerializer})
    def get(self, request):
        return Response(UserSerializer(request.user).data)


class JWKSView(PublicView):
    @extend_schema(responses={200: JWKSSerializer})
    def get(self, request):
        # Verifiers cache it; a rotation publishes the new key before it signs anything.
        return Response(token_backend().jwks, headers={"Cache-Control": "public, max-age=300"})
