"""The shared plumbing in one small app: what both services get from it without a route of their own
(429 with Retry-After, a 500 without internal text, escaped log values)."""

from __future__ import annotations

import io
import logging
import re
from contextlib import redirect_stdout

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram

from fastapi_plumbing.database import sqlalchemy_url, sqlite_engine
from fastapi_plumbing.internal_token import DEV_INTERNAL_TOKEN, check_internal_token_setting
from fastapi_plumbing.logging import configure_logging, escape_control
from fastapi_plumbing.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from fastapi_plumbing.problems import Problem, install_problem_handlers
from fastapi_plumbing.testing import assert_problem

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _app() -> FastAPI:
    app = FastAPI()
    registry = CollectorRegistry()
    requests = Counter("test_requests_total", "", ["method", "route", "status"], registry=registry)
    latency = Histogram("test_latency_seconds", "", ["method", "route"], registry=registry)

    @app.get("/busy")
    async def busy() -> None:
        raise Problem(429, "Too many requests from you; slow down.")

    @app.get("/explode")
    async def explode() -> None:
        raise RuntimeError("secret connection string postgresql://admin:hunter2@db")

    @app.post("/things/{name}")
    async def put_thing(name: str) -> None: ...

    @app.get("/things/{name}")
    async def get_thing(name: str) -> None: ...

    install_problem_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=100)
    app.add_middleware(RequestContextMiddleware, requests=requests, latency=latency)
    return app


async def _get(path: str, method: str = "GET") -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path, headers={"X-Request-ID": "req-7"})


@pytest.mark.parametrize("method", ["OPTIONS", "DELETE", "PUT"])
async def test_405_allow_lists_every_method_of_the_path(method):
    # One route per method on the same path: Allow named only the first route's (POST).
    response = await _get("/things/7", method)
    body = assert_problem(response, 405, "method_not_allowed", "/things/7")
    assert response.headers["Allow"] == "GET, POST"
    assert body["detail"] == f"{method} is not allowed on /things/7; use GET, POST."


async def test_429_carries_retry_after():
    response = await _get("/busy")
    assert_problem(response, 429, "rate_limited", "/busy")
    assert response.headers["Retry-After"] == "1"


async def test_500_has_no_internal_text_and_keeps_the_request_id():
    response = await _get("/explode")
    assert_problem(response, 500, "internal_error", "/explode")
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert response.headers["X-Request-ID"] == "req-7"


def test_every_control_character_is_escaped_and_nothing_else():
    assert escape_control("GET /a\r\nforged\x1b[2J\x00\x7f\x85é") == "GET /a\\r\\nforged\\x1b[2J\\x00\\x7f\\x85é"


def test_text_logs_keep_one_event_per_line():
    out = io.StringIO()
    with redirect_stdout(out):
        configure_logging("text", "INFO")
        logging.getLogger("app.test").info("path %s", "/x\n2026-01-01 CRITICAL forged")
        try:
            raise ValueError("bad\nINFO forged from an exception")
        except ValueError:
            logging.getLogger("app.test").exception("failed")
    lines = out.getvalue().splitlines()
    assert any(line.endswith("path /x\\n2026-01-01 CRITICAL forged") for line in lines)
    assert not any(line.startswith(("2026-01-01", "INFO forged")) for line in lines)
    assert all(line[:4].isdigit() or line.startswith("    ") for line in lines), lines


def test_database_urls_name_the_installed_driver():
    assert sqlalchemy_url("postgres://u:p@h/db") == "postgresql+psycopg2://u:p@h/db"
    assert sqlalchemy_url("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert sqlalchemy_url("sqlite:////tmp/x.sqlite3") == "sqlite:////tmp/x.sqlite3"


def test_sqlite_engine_keeps_a_large_table_in_memory(tmp_path):
    """Every connection of either service's SQLite engine: WAL, 64 MiB of page cache, memory-mapped reads
    (the defaults, 2 MiB and none, made inserts at a million rows read pages back: docs/performance.md)."""
    engine = sqlite_engine(f"sqlite:///{tmp_path / 'new' / 'db.sqlite3'}", foreign_keys=True)
    with engine.connect() as conn:
        pragmas = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                   for name in ("journal_mode", "synchronous", "foreign_keys", "cache_size", "mmap_size")}
    engine.dispose()
    assert pragmas == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1, "cache_size": -65536,
                       "mmap_size": 268435456}



@pytest.mark.parametrize(("token", "environment", "refusal"), [
    (DEV_INTERNAL_TOKEN, "production", "secret value"),
    ("short", "development", "at least 16"),
])
def test_internal_token_refusals(token, environment, refusal):
    with pytest.raises(ValueError, match=refusal):
        check_internal_token_setting(token, environment)
    check_internal_token_setting(DEV_INTERNAL_TOKEN, "development")


async def test_each_request_is_counted_by_route_template_and_logged_once_with_its_id():
    app = _app()
    out = io.StringIO()
    with redirect_stdout(out):
        configure_logging("text", "INFO")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            given = await client.get("/things/7", headers={"X-Request-ID": "req-7"})
            generated = await client.get("/things/8")
    requests = next(m.kwargs["requests"] for m in app.user_middleware if m.cls is RequestContextMiddleware)
    assert requests.labels("GET", "/things/{name}", "200")._value.get() == 2
    assert given.headers["X-Request-ID"] == "req-7"
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])
    lines = [line for line in out.getvalue().splitlines() if " app.requests " in line]
    assert len(lines) == 2
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO app.requests \[req-7\] GET /things/7 200 "
                        r"\d+\.\dms", lines[0]), lines[0]
    assert f"[{generated.headers['X-Request-ID']}] GET /things/8 200" in lines[1]
