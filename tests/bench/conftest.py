"""Shared by the load-generator tests: a threaded HTTP server on a free port, answering with a given handler."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # wrk drops its connections mid-request when its time is up: expected, not worth a traceback


@pytest.fixture
def serve() -> Iterator[Callable[[type[BaseHTTPRequestHandler]], str]]:
    """``serve(handler)``: the base URL of a server answering with ``handler``, stopped after the test."""
    servers: list[QuietServer] = []

    def start(handler: type[BaseHTTPRequestHandler]) -> str:
        server = QuietServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
