"""Thin views: validate the shape with a serializer, call a service, serialize the result."""

from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from . import services, throttling
from .serializers import (
    JWKSSerializer,
    LoginSerializer,
    RefreshSerializer,
    RegistrationSerializer,
    TokenPairSerializer,
    UserSerializer,
)
from .tokens import RefreshToken, token_backend


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


class RegisterView(PublicView):
    @extend_schema(request=RegistrationSerializer, responses={201: UserSerializer})
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
    @extend_schema(request=LoginSerializer, responses={200: TokenPairSerializer})
    def post(self, request):
        data = _valid(LoginSerializer, request)
        checks = (
            ("login_failures_per_ip", throttling.client_ip(request)),
            ("login_failures_per_username", data["username"].lower()),
        )
        throttling.enforce(*checks)  # before the password is checked: a locked name learns nothing
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None:  # wrong password, unknown or inactive user: indistinguishable on purpose
            throttling.record(*checks)
            raise AuthenticationFailed("No active account found with these credentials.", "invalid_credentials")
        throttling.clear(*checks[1])
        return Response(services.session_start(user=user))


class RefreshView(PublicView):
    @extend_schema(request=RefreshSerializer, responses={200: TokenPairSerializer})
    def post(self, request):
        refresh = _refresh_token(_valid(RefreshSerializer, request)["refresh"])
        try:
            return Response(services.session_refresh(refresh=refresh))
        except TokenError as exc:
            raise InvalidToken({"detail": str(exc)}) from exc


class LogoutView(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(request=RefreshSerializer, responses={204: None})
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
