"""/console/: the analyst console (static files, no build step) and its login, which goes through the auth
service. Tokens stay in the page's memory and sessionStorage and travel in the Authorization header, never
in a URL or a cookie (so there is no cookie for a cross-site request to ride on)."""

from __future__ import annotations

import logging
import math
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Annotated

import httpx
from fastapi import APIRouter, Header, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from app.auth.jwks import JWKSUnavailable
from app.auth.tokens import InvalidToken
from app.core.config import settings
from app.staff_schemas import LoginCreate, RefreshCreate, StaffSession
from fastapi_plumbing.problems import Problem

STATIC_DIR = Path(__file__).resolve().parents[2] / "console"
# Every byte the page runs comes from this service: no inline script, no third-party origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
                               "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
STATIC_FILES = {"console.js": "text/javascript", "console.css": "text/css"}
# The auth service's login throttle waits at most 900 s; a Retry-After beyond an hour is not believed.
RETRY_AFTER_DEFAULT, RETRY_AFTER_MAX = 60, 3600
logger = logging.getLogger(__name__)

pages = APIRouter(include_in_schema=False)
session_router = APIRouter(prefix="/staff/session", tags=["staff"])
# Each error's `code`, named in the document (the codes: README, "Analyst console"); logout answers none.
AUTH_FAILURES = {
    502: {"description": "`auth_unexpected_answer`: the auth service answered unexpectedly"},
    504: {"description": "`auth_timeout`: the auth service did not answer in time"},
    503: {"description": "`auth_unavailable`: the auth service cannot be reached; `jwks_unavailable`: nor the "
                         "keys that verify its tokens"}}


@pages.get("/console")
def console_redirect() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=308)


@pages.get("/console/")
def console_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=SECURITY_HEADERS)


@pages.get("/console/static/{name}")
def console_static(name: str) -> FileResponse:
    if name not in STATIC_FILES:
        raise Problem(404, f"Nothing is served at /console/static/{name}.", code="not_found")
    return FileResponse(STATIC_DIR / name, media_type=STATIC_FILES[name], headers=SECURITY_HEADERS)


def _auth_call(path: str, body: dict, headers: dict | None = None) -> httpx.Response:
    try:
        return httpx.post(settings.AUTH_API_BASE_URL + path, json=body, headers=headers, timeout=_auth_timeout())
    except (httpx.ReadTimeout, httpx.WriteTimeout):
        # Reached but slow: the login may still complete there, so this is not "cannot be reached".
        raise Problem(504, f"The auth service did not answer within {settings.AUTH_TIMEOUT_SECONDS:g} s; retry "
                      "later.", code="auth_timeout") from None
    except httpx.HTTPError:
        raise Problem(503, "The auth service is unavailable; retry later.", code="auth_unavailable",
                      headers={"Retry-After": "5"}) from None


def _auth_timeout() -> httpx.Timeout:
    return httpx.Timeout(settings.AUTH_TIMEOUT_SECONDS, connect=min(3.0, settings.AUTH_TIMEOUT_SECONDS))


def retry_after_seconds(value: str | None) -> int:
    """The auth service's Retry-After (seconds or an HTTP date) as whole seconds in [1, RETRY_AFTER_MAX]:
    it is repeated to the page and shown to a person, so anything else becomes RETRY_AFTER_DEFAULT."""
    value = (value or "").strip()
    if value.isascii() and value.isdigit() and len(value) <= 9:
        seconds = int(value)
    else:
        try:
            seconds = math.ceil(parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError, IndexError, OverflowError):
            return RETRY_AFTER_DEFAULT
    return min(max(seconds, 1), RETRY_AFTER_MAX)


def _revoke(refresh_token: str, authorization: str) -> None:
    """Best effort: a refresh token the auth service cannot be told about stays valid until it expires
    (the caller has forgotten it already), so a failure is logged, never answered."""
    try:
        answer = httpx.post(settings.AUTH_API_BASE_URL + "logout/", json={"refresh": refresh_token},
                            headers={"Authorization": authorization}, timeout=_auth_timeout())
    except httpx.HTTPError as exc:
        logger.warning("console logout: the refresh token was not revoked, the auth service is unreachable (%s)",
                       type(exc).__name__)
        return
    if answer.status_code >= 300:
        logger.warning("console logout: the refresh token was not revoked, the auth service answered %d",
                       answer.status_code)


def _staff_session(request: Request, answer: httpx.Response, refused: str, refused_code: str) -> StaffSession:
    if answer.status_code == 429:
        retry = str(retry_after_seconds(answer.headers.get("Retry-After")))
        raise Problem(429, f"Too many attempts; retry in {retry} s.", code="rate_limited",
                      headers={"Retry-After": retry})
    if answer.status_code in (400, 401, 403, 422):
        raise Problem(401, refused, code=refused_code)
    unexpected = Problem(502, "The auth service answered unexpectedly; retry later.", code="auth_unexpected_answer")
    if answer.status_code != 200:
        raise unexpected
    try:
        tokens = answer.json()
        access, refresh_token = tokens["access"], tokens["refresh"]
    except (ValueError, KeyError, TypeError):  # not JSON, or not the token pair
        raise unexpected from None
    if not (isinstance(access, str) and isinstance(refresh_token, str)):
        raise unexpected
    try:
        principal = request.app.state.token_verifier.verify(access)
    except InvalidToken:
        raise Problem(502, "The auth service issued a token this service cannot verify.",
                      code="auth_unexpected_answer") from None
    except JWKSUnavailable:
        raise Problem(503, "The keys that verify access tokens are unavailable right now; retry later.",
                      code="jwks_unavailable", headers={"Retry-After": "5"}) from None
    if not principal.is_staff:
        # Signed out at once: a customer's tokens are of no use here and are not handed to the page.
        _revoke(refresh_token, f"Bearer {access}")
        raise Problem(403, "This account is not a staff account; the console is for fraud analysts.", code="not_staff")
    return StaffSession(access=access, refresh=refresh_token, username=principal.username)


@session_router.post("", response_model=StaffSession,
                     responses={401: {"description": "`invalid_credentials`: wrong username or password"},
                                403: {"description": "`not_staff`: not a staff account"},
                                429: {"description": "`rate_limited`: the auth service's login throttle"},
                                **AUTH_FAILURES})
def log_in(body: LoginCreate, request: Request) -> StaffSession:
    """Log in to the console: the auth service checks the password (and its throttles); only a staff
    account gets its tokens back."""
    answer = _auth_call("login/", body.model_dump())
    return _staff_session(request, answer, "Wrong username or password.", "invalid_credentials")


@session_router.post("/refresh", response_model=StaffSession,
                     responses={401: {"description": "`session_ended`: the refresh token was refused; log in again"},
                                403: {"description": "`not_staff`: no longer a staff account"},
                                **AUTH_FAILURES})
def refresh(body: RefreshCreate, request: Request) -> StaffSession:
    """A new token pair for the console (the refresh token is single-use, as at the auth service)."""
    answer = _auth_call("refresh/", body.model_dump())
    return _staff_session(request, answer, "The session has ended; log in again.", "session_ended")


@session_router.post("/logout", status_code=204, response_class=Response)
def log_out(body: RefreshCreate, authorization: Annotated[str | None, Header()] = None) -> Response:
    """Revoke the refresh token at the auth service, best effort: the page forgets both tokens before it
    calls, so the answer is 204 even when the auth service cannot be told (the failure is logged)."""
    if authorization:
        _revoke(body.refresh, authorization)
    return Response(status_code=204)
