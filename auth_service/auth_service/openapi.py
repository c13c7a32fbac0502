"""The OpenAPI document declares every error as RFC 9457 problem details (see auth_service/errors.py).

Views list the error statuses particular to them (``problems(401, 429)``); this hook adds the ones every
operation of a kind can answer (a JSON body: 400, 413, 415, 422; a bearer token: 401; all: 500) and gives
each error response the ``application/problem+json`` content, and 429 its ``Retry-After`` header.
"""

from drf_spectacular.utils import OpenApiResponse

from .errors import PROBLEM_CONTENT_TYPE, title

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details; `errors` on validation errors (422) only.",
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "title": {"type": "string", "description": "HTTP reason phrase"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "one sentence naming the problem"},
        "instance": {"type": "string", "description": "the request path"},
        "code": {"type": "string", "description": "machine-readable, e.g. validation_error, rate_limited"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                "required": ["field", "message"],
            },
        },
    },
    "required": ["type", "title", "status", "detail", "instance", "code"],
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_RETRY_AFTER = {"schema": {"type": "integer"}, "description": "seconds to wait before trying again"}


def problems(*statuses: int) -> dict:
    """Error responses of one view, for ``extend_schema(responses=...)``; the hook fills in their content."""
    return {status: OpenApiResponse(description=title(status)) for status in statuses}


def declare_problem_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            statuses = {500}
            if "requestBody" in operation:
                statuses |= {400, 413, 415, 422}
            if any("jwtAuth" in requirement for requirement in operation.get("security", [])):
                statuses.add(401)
            for status in statuses:
                responses.setdefault(str(status), {"description": title(status)})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {PROBLEM_CONTENT_TYPE: {"schema": _PROBLEM_REF}}
                    if status == "429":
                        response.setdefault("headers", {})["Retry-After"] = _RETRY_AFTER
            operation["responses"] = dict(sorted(responses.items()))
    return result
