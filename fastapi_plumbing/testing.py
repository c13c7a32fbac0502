"""Helpers for the services' test suites and scripts that start real processes."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    """A loopback port free right now (the OS picks it), for a process a test is about to start."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance", "code"}


def assert_problem(response: httpx.Response, status: int, code: str, instance: str) -> dict[str, Any]:
    """The response is RFC 9457 problem details with this status, code and instance; returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert PROBLEM_MEMBERS <= body.keys(), body
    assert (body["type"], body["title"], body["status"], body["code"], body["instance"]) == \
        ("about:blank", HTTPStatus(status).phrase, status, code, instance)
    assert isinstance(body["detail"], str) and body["detail"].endswith("."), body["detail"]
    return body


def assert_openapi_declares_problems(document: dict[str, Any]) -> None:
    """Every operation of this OpenAPI document answers its errors as the `Problem` schema."""
    assert set(document["components"]["schemas"]["Problem"]["required"]) == PROBLEM_MEMBERS
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"]["default"]["content"] == problem, (method, path)
            for status, response in operation["responses"].items():
                if status != "default" and int(status) >= 400:
                    assert response["content"] == problem, (method, path, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def eventually(check: Callable[[], object], timeout: float = 10, interval: float = 0.1):
    """Poll until check() returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, f"condition not met within {timeout}s (last value {result!r})"
            return result
        time.sleep(interval)


def uvicorn_workers(supervisor: int) -> list[int]:
    """The worker processes of a uvicorn started with --workers (Linux): the supervisor's children that it
    spawned to serve, not its multiprocessing resource tracker."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def metric_value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` in a /metrics text whose labels include ``labels`` (0 if none)."""
    total = 0.0
    for found in re.finditer(rf"^{name}(?:{{(.*)}})? (\S+)$", text, re.MULTILINE):
        have = dict(re.findall(r'(\w+)="([^"]*)"', found.group(1) or ""))
        if labels.items() <= have.items():
            total += float(found.group(2))
    return total
