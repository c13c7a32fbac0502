"""Probes, metrics and request ids."""

from __future__ import annotations

import json
import os
import re
import signal

import httpx
import pytest
from app.api.routes.probes import router as probes
from fastapi import FastAPI
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from fastapi_plumbing.problems import install_problem_handlers
from fastapi_plumbing.testing import eventually, metric_value, uvicorn_workers


def test_health_and_ready(api):
    assert api.get("/health", user=None).json() == {"status": "ok"}
    ready = api.get("/ready", user=None)
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "database": "ok"}


def test_request_id_is_echoed_or_generated(api):
    given = api.get("/health", user=None, headers={"X-Request-ID": "abc-123"})
    hostile = api.get("/health", user=None, headers={"X-Request-ID": "bad id\twith spaces"})

    assert given.headers["X-Request-ID"] == "abc-123"
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["X-Request-ID"])


def test_metrics_count_decisions_and_fraud_service_errors(api, healthy_fraud_stub):
    def sample(text: str, name: str, labels: str) -> float:
        match = re.search(rf"^{name}\{{{labels}\}} ([0-9.e+]+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    before = api.get("/metrics", user=None).text
    api.create("9000", user=91)
    healthy_fraud_stub.mode = "error500"
    api.create(user=91)
    after = api.get("/metrics", user=None).text

    blocked_by_model = 'decided_by="model",status="BLOCKED"'
    blocked_by_fallback = 'decided_by="fallback",status="BLOCKED"'
    assert sample(after, "transaction_decisions_total", blocked_by_model) == \
        sample(before, "transaction_decisions_total", blocked_by_model) + 1
    assert sample(after, "transaction_decisions_total", blocked_by_fallback) == \
        sample(before, "transaction_decisions_total", blocked_by_fallback) + 1
    assert sample(after, "transaction_fraud_service_errors_total", 'reason="http_500"') >= 1
    assert 'route="/transactions/{transaction_id}"' in after or 'route="/transactions"' in after


def test_logs_are_json_lines_carrying_the_request_id(start_app, api):
    api.get("/health", user=None, headers={"X-Request-ID": "log-trace-42"})

    def request_line():
        for line in start_app().log().splitlines():
            if line.startswith("{") and "log-trace-42" in line:
                return json.loads(line)
        return None

    entry = eventually(request_line, timeout=5)
    assert entry["request_id"] == "log-trace-42"
    assert entry["logger"] == "app.requests" and "GET /health 200" in entry["message"]


@pytest.mark.anyio
async def test_ready_is_a_503_problem_when_the_database_is_unreachable():
    app = FastAPI()
    app.include_router(probes)
    install_problem_handlers(app)
    app.state.sessions = sessionmaker(create_engine("postgresql+psycopg2://postgres@127.0.0.1:1/none"))

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/ready")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_ready" and response.json()["database"] == "unreachable"
    assert response.json()["detail"] == "Not ready: database unreachable."



def test_metrics_with_two_workers_count_every_request_whichever_worker_answers(start_app):
    app = start_app(WORKERS="2")  # start.sh runs uvicorn itself (exec): its pid is the supervisor's
    eventually(lambda: metric_value(httpx.get(f"{app.url}/metrics").text, "transaction_workers") == 2, timeout=120)

    def counted() -> set[float]:
        # A new connection each time: either worker may answer; every answer must be the sum of both.
        return {metric_value(httpx.get(f"{app.url}/metrics").text, "transaction_http_requests_total",
                             method="GET", route="/health", status="200") for _ in range(10)}

    before = counted()
    assert len(before) == 1
    for _ in range(40):
        assert httpx.get(f"{app.url}/health").status_code == 200
    assert counted() == {before.pop() + 40}

    # A worker killed and replaced: its requests stay counted, it no longer counts as a worker.
    total = counted()
    os.kill(uvicorn_workers(app.process.pid)[0], signal.SIGKILL)
    eventually(lambda: len(uvicorn_workers(app.process.pid)) == 2 and httpx.get(f"{app.url}/ready").status_code
               == 200 and metric_value(httpx.get(f"{app.url}/metrics").text, "transaction_workers") == 2, timeout=120)
    assert counted() == total
