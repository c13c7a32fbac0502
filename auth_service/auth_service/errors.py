"""One error shape for every answer that is not a success.

    {"error": {"status": 422, "code": "validation_error", "message": "...", "fields": {"email": ["..."]}}}

``fields`` appears only when particular fields are at fault. Validation is 422, malformed JSON 400, as
in the system design; Django's own 400/403/404/500 pages are replaced by the same shape.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler


def error_body(status_code: int, code: str, message: str, fields: dict | None = None) -> dict:
    error = {"status": status_code, "code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def _as_messages(detail) -> list[str]:
    if isinstance(detail, list):
        return [message for item in detail for message in _as_messages(item)]
    if isinstance(detail, dict):
        return [f"{key}: {message}" for key, value in detail.items() for message in _as_messages(value)]
    return [str(detail)]


def _validation_body(detail) -> dict:
    if isinstance(detail, dict):
        fields = {name: _as_messages(messages) for name, messages in detail.items()}
    else:
        fields = {"non_field_errors": _as_messages(detail)}
    named = ", ".join(fields)
    summary = "; ".join(f"{name}: {messages[0]}" for name, messages in fields.items())
    return error_body(422, "validation_error", f"Invalid {named}. {summary}", fields)


def _token_message(detail) -> str:
    """simplejwt's InvalidToken carries a list of per-token-class reasons; keep the first reason."""
    if isinstance(detail, dict):
        reasons = detail.get("messages") or []
        reason = reasons[0].get("message") if reasons else None
        return f"{detail.get('detail')}: {reason}" if reason else str(detail.get("detail"))
    return str(detail)


def json_exception_handler(exc, context):
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
    if isinstance(exc, exceptions.ValidationError):
        response.status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
        response.data = _validation_body(exc.detail)
        return response
    if isinstance(exc, exceptions.ParseError):
        code, message = "malformed_json", f"The request body is not valid JSON: {exc.detail}"
    elif isinstance(exc, exceptions.Throttled):
        code, message = "throttled", str(exc.detail)
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        message = _token_message(exc.detail)
    response.data = error_body(response.status_code, code, message)
    return response


def _django_error(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(status_code, code, message), status=status_code)


def bad_request(request, exception=None):
    if isinstance(exception, RequestDataTooBig):  # Django files it under 400; HTTP has a better status
        return _django_error(413, "request_too_large", "The request body is larger than this service accepts.")
    return _django_error(400, "bad_request", "The request could not be understood.")


def permission_denied(request, exception=None):
    return _django_error(403, "permission_denied", "You do not have permission to do this.")


def not_found(request, exception=None):
    return _django_error(404, "not_found", f"No resource at {request.path}.")


def server_error(request):
    return _django_error(500, "server_error", "Internal error; it has been logged.")
