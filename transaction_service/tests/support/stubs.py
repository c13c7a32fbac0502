"""Local HTTP stand-ins for the neighbours: the fraud service (with fault modes) and the JWKS endpoint."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StubServer:
    """An HTTP server on a fixed port that can be stopped (connection refused) and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, bytes]:
        raise NotImplementedError

    def start(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = stub.handle(self.command, self.path, dict(self.headers), body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout test): nothing to answer

            do_GET = do_POST = _serve

            def log_message(self, *args) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._server = server

    @property
    def running(self) -> bool:
        return self._server is not None

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def prediction(payload: dict, decision: str, risk_score: float) -> dict:
    return {
        "transaction_id": payload.get("transaction_id"),
        "decision": decision,
        "risk_score": risk_score,
        "anomaly_score": -0.1,
        "threshold": 0.5,
        "reasons": ["amount far above customer average"] if decision == "BLOCKED" else [],
        "model_version": "test-model-1",
    }


class FraudStub(StubServer):
    """Modes: "model" (BLOCKED above BLOCK_ABOVE, else APPROVED), "error500", "garbage", "wrong_shape",
    "unknown_decision", "wrong_id"; `delay` seconds before answering (slow service); the next
    `errors_before_mode` requests are answered with a 500 whatever the mode (a blip)."""

    BLOCK_ABOVE = 500

    def __init__(self, internal_token: str) -> None:
        super().__init__()
        self.internal_token = internal_token
        self.reset()

    def reset(self) -> None:
        self.mode = "model"
        self.delay = 0.0
        self.errors_before_mode = 0
        self.requests: list[tuple[str, dict, dict]] = []
        self._lock = threading.Lock()

    def calls(self, path: str) -> list[tuple[dict, dict]]:
        with self._lock:
            return [(headers, body) for req_path, headers, body in self.requests if req_path == path]

    def handle(self, method, path, headers, body):
        payload = json.loads(body or b"{}")
        with self._lock:
            self.requests.append((path, headers, payload))
        if self.delay:
            time.sleep(self.delay)
        if headers.get("X-Internal-Token") != self.internal_token:
            return 401, b'{"detail": "bad internal token"}'
        with self._lock:
            blip = self.errors_before_mode > 0
            if blip:
                self.errors_before_mode -= 1
        if blip or self.mode == "error500":
            return 500, b'{"detail": "internal error"}'
        if path == "/feedback":
            return 200, json.dumps({"transaction_id": payload["transaction_id"], "recorded": True}).encode()
        if self.mode == "garbage":
            return 200, b"<html>definitely not json"
        if self.mode == "wrong_shape":
            return 200, b'{"result": "ok", "score": "high"}'
        if self.mode == "unknown_decision":
            return 200, json.dumps(prediction(payload, "MAYBE", 0.2)).encode()
        if self.mode == "wrong_id":
            return 200, json.dumps({**prediction(payload, "APPROVED", 0.1), "transaction_id": "other"}).encode()
        blocked = float(payload["amount"]) > self.BLOCK_ABOVE
        answer = prediction(payload, "BLOCKED" if blocked else "APPROVED", 0.93 if blocked else 0.07)
        return 200, json.dumps(answer).encode()


class JWKSStub(StubServer):
    """Publishes the keys in `self.keys`; counts how often it was asked."""

    def __init__(self, keys) -> None:
        super().__init__()
        self.keys = list(keys)
        self.hits = 0

    def handle(self, method, path, headers, body):
        self.hits += 1
        return 200, json.dumps({"keys": [key.jwk() for key in self.keys]}).encode()
