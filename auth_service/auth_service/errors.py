"""RFC 9457 problem details for every error the auth service answers.

    Content-Type: application/problem+json
    {"type": "about:blank", "title": "Unprocessable Entity", "status": 422,
     "detail": "Invalid email: Enter a valid email address.", "instance": "/api/auth/register/",
     "code": "validation_error", "errors": [{"field": "email", "message": "Enter a valid email address."}]}

``errors`` appears on validation errors only. Three paths lead here: DRF's exception handler (API views),
Django's error handlers (400/403/404/500, CSRF failures) and ``ProblemDetailsMiddleware``, which rewrites
any other error response (Django's own 405, for one) so that no error leaves in another shape.
"""

import json
import math
from http import HTTPStatus

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler

from .log_records import request_id_var

PROBLEM_CONTENT_TYPE = "application/problem+json"

# Used when an error response reaches the middleware without a code of its own.
_DEFAULT_CODES = {
    400: "bad_request",
    401: "missing_token",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


def title(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


def problem_body(
    status_code: int, code: str, detail: str, instance: str, errors: list | None = None, **extensions
) -> dict:
    body = {
        "type": "about:blank",
        "title": title(status_code),
        "status": status_code,
        "detail": detail,
        "instance": instance,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return {**body, **extensions}


def problem_response(
    request, status_code: int, code: str, detail: str, headers: dict | None = None, **extensions
) -> HttpResponse:
    """A problem+json response outside DRF (Django handlers, middleware, probes, admin)."""
    body = problem_body(status_code, code, detail, request.path, **extensions)
    response = HttpResponse(json.dumps(body), status=status_code, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _field_errors(detail, prefix: str = "") -> list[dict]:
    """DRF's nested error detail as a flat list of {field: dotted path, message}."""
    if isinstance(detail, dict):
        return [
            error
            for name, value in detail.items()
            for error in _field_errors(value, prefix if name == "non_field_errors" else f"{prefix}{name}.")
        ]
    if isinstance(detail, list):
        if detail and all(not isinstance(item, dict | list) for item in detail):
            return [{"field": prefix.rstrip(".") or "body", "message": str(item)} for item in detail]
        return [error for index, item in enumerate(detail) for error in _field_errors(item, f"{prefix}{index}.")]
    return [{"field": prefix.rstrip(".") or "body", "message": str(detail)}]


def _validation_detail(errors: list[dict]) -> str:
    fields = list(dict.fromkeys(error["field"] for error in errors))
    first = {field: next(e["message"] for e in errors if e["field"] == field) for field in fields}
    return f"Invalid {', '.join(fields)}. " + "; ".join(f"{field}: {message}" for field, message in first.items())


def _token_reason(detail) -> str:
    """simplejwt's InvalidToken carries a list of per-token-class reasons; keep the first reason."""
    if isinstance(detail, dict):
        reasons = detail.get("messages") or []
        reason = reasons[0].get("message") if reasons else None
        return f"{detail.get('detail')}: {reason}" if reason else str(detail.get("detail"))
    return str(detail)


def _whole_seconds(wait: float | None) -> int:
    return max(1, math.ceil(wait or 0))


def _code_and_detail(exc: exceptions.APIException) -> tuple[str, str]:
    if isinstance(exc, exceptions.NotAuthenticated):
        return "missing_token", "This needs an access token: Authorization: Bearer <token>."
    if isinstance(exc, exceptions.Throttled):
        return "rate_limited", f"Too many attempts; try again in {_whole_seconds(exc.wait)} seconds."
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return "unsupported_media_type", f"{exc.detail} Send application/json."
    message = _token_reason(exc.detail)
    if isinstance(exc.detail, dict):  # simplejwt's errors: {"detail": ..., "code": ..., "messages"?: [...]}
        code = exc.detail.get("code", exc.default_code)
    else:
        code = exc.get_codes()
    if code == "token_not_valid":  # simplejwt's one code for every bad token; clients act on expiry
        code = "token_expired" if "expired" in message.lower() else "invalid_token"
    if not message.endswith("."):
        message += "."
    return str(code), message


def problem_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every API error as problem details, with DRF's headers (Retry-After,
    WWW-Authenticate, Allow)."""
    # Raised by services, which know nothing of DRF.
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        return None  # not an API error: Django's 500 handler answers, in this same shape
    instance = context["request"].path
    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        response.status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
        response.data = problem_body(422, "validation_error", _validation_detail(errors), instance, errors)
    elif isinstance(exc, exceptions.ParseError):
        message = f"The request body is not valid JSON: {exc.detail}"
        errors = [{"field": "body", "message": message}]
        response.data = problem_body(400, "malformed_json", message, instance, errors)
    else:
        if isinstance(exc, exceptions.Throttled):
            response["Retry-After"] = str(_whole_seconds(exc.wait))
        code, detail = _code_and_detail(exc)
        response.data = problem_body(response.status_code, code, detail, instance)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def bad_request(request, exception=None):
    if isinstance(exception, RequestDataTooBig):  # Django files it under 400; HTTP has a better status
        return problem_response(request, 413, "body_too_large", "The request body is larger than 64 KiB.")
    return problem_response(request, 400, "bad_request", "The request could not be understood (bad Host header?).")


def permission_denied(request, exception=None):
    return problem_response(request, 403, "permission_denied", "You do not have permission to do this.")


def csrf_failure(request, reason=""):
    return problem_response(
        request, 403, "csrf_failed", "The form's CSRF token is missing or wrong; reload the page and try again."
    )


def not_found(request, exception=None):
    return problem_response(request, 404, "not_found", f"No resource at {request.path}.")


def server_error(request):
    return problem_response(
        request, 500, "internal_error", f"Internal error; it is logged under request id {request_id_var.get()}."
    )


def _default_detail(request, response) -> str:
    if response.status_code == 405:
        allowed = response.get("Allow", "")
        return f"{request.method} is not allowed on {request.path}" + (f"; use {allowed}." if allowed else ".")
    return f"The request failed: {title(response.status_code)}."


class ProblemDetailsMiddleware:
    """Rewrites any error response not already in problem+json (Django's 405 from views that only take
    POST, a bare HttpResponseBadRequest...), keeping its status and headers."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code < 400 or getattr(response, "streaming", False):
            return response
        if response.get("Content-Type", "").split(";")[0].strip() == PROBLEM_CONTENT_TYPE:
            return response
        code = _DEFAULT_CODES.get(response.status_code, "error" if response.status_code < 500 else "internal_error")
        body = problem_body(response.status_code, code, _default_detail(request, response), request.path)
        response.content = json.dumps(body).encode()
        response["Content-Type"] = PROBLEM_CONTENT_TYPE
        if response.has_header("Content-Length"):  # set by CommonMiddleware for the old body
            response["Content-Length"] = str(len(response.content))
        return response
