"""Local HTTP stand-ins for the neighbours: the fraud service (with fault modes) and the JWKS endpoint."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fastapi_plumbing.testing import free_port


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
                status, payload, *extra = stub.handle(self.command, self.path, dict(self.headers), body)
                content_type, headers = (extra + [None, None])[:2]
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type or "application/json")
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
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
        "contributions": [
            {"feature": "tx_amount", "value": payload.get("amount"),
             "contribution": 0.2 if decision == "BLOCKED" else 0.0},
            {"feature": "hour_of_day", "value": 14.0, "contribution": -0.01},
        ],
    }


# A PNG signature and nothing else: enough for the proxy to pass through.
PLOT_BYTES = b"\x89PNG\r\n\x1a\n-stub-plot"
MODEL_CARD = {"model_version": "test-model-1", "created_at": "2026-11-26T07:00:00+00:00", "model_type": "stub",
              "training_period": {"from": "2025-05-01", "to": "2025-06-22"},
              "evaluation_period": {"from": "2025-06-30", "to": "2025-07-29"},
              "threshold_rule": "stub", "anomaly_threshold": 0.55, "metrics": {"evaluation": {"roc_auc": 0.9}},
              "data_summary": {}, "plots": ["roc_curve"]}


class FraudStub(StubServer):
    """Modes: "model" (BLOCKED above BLOCK_ABOVE, APPROVED in the review band (risk 0.35) above
    REVIEW_ABOVE, else APPROVED with risk 0.07), "error500", "reject" (422),
    "garbage", "wrong_shape",
    "unknown_decision", "wrong_id"; `delay` seconds before answering (slow service); the next
    `errors_before_mode` requests are answered with a 500 whatever the mode (a blip).

    /predict/batch answers each row as /predict does in "model" mode, except: `batch_delay` seconds
    before answering and `batch_status` (a 5xx or 4xx for the whole batch), as the real service's
    409 does for a batch holding an id of `conflicts` (also 409 on /predict); `bad_rows` maps a
    transaction id to "missing" (its row left out), "wrong_id" or "malformed" (its row so)."""

    BLOCK_ABOVE = 500
    REVIEW_ABOVE = 400

    def __init__(self, internal_token: str) -> None:
        super().__init__()
        self.internal_token = internal_token
        self.reset()

    def reset(self) -> None:
        self.mode = "model"
        self.delay = 0.0
        self.errors_before_mode = 0
        self.batch_delay = 0.0
        self.batch_status: int | None = None
        self.conflicts: set[str] = set()
        self.bad_rows: dict[str, str] = {}
        self.requests: list[tuple[str, dict, dict]] = []
        self._lock = threading.Lock()

    def calls(self, path: str) -> list[tuple[dict, dict]]:
        with self._lock:
            return [(headers, body) for req_path, headers, body in self.requests if req_path == path]

    def scored(self) -> list[str]:
        """Every transaction id sent for scoring, alone or in a batch, in order of arrival."""
        with self._lock:
            requests = list(self.requests)
        return [txn["transaction_id"] for path, _, body in requests if path.startswith("/predict")
                for txn in (body.get("transactions", []) if path == "/predict/batch" else [body])]

    def handle(self, method, path, headers, body):
        payload = json.loads(body or b"{}")
        with self._lock:
            self.requests.append((path, headers, payload))
        if self.delay:
            time.sleep(self.delay)
        if path == "/predict/batch" and self.batch_delay:
            time.sleep(self.batch_delay)
        if headers.get("X-Internal-Token") != self.internal_token:
            return 401, b'{"detail": "bad internal token"}'
        with self._lock:
            blip = self.errors_before_mode > 0
            if blip:
                self.errors_before_mode -= 1
        if blip or self.mode == "error500":
            return 500, b'{"detail": "internal error"}'
        if path == "/model-card":
            return 200, json.dumps(MODEL_CARD).encode()
        if path.startswith("/model-card/plots/"):
            if path.endswith("/roc_curve"):
                return 200, PLOT_BYTES, "image/png"
            return 404, b'{"detail": "no such plot"}'
        if path.startswith("/model/comparison"):  # no challenger scored in any period
            return 404, b'{"detail": "no challenger"}'
        if path == "/feedback":
            return 200, json.dumps({"transaction_id": payload["transaction_id"], "recorded": True}).encode()
        if path == "/predict/batch":
            return self._batch(payload["transactions"])
        if payload.get("transaction_id") in self.conflicts:
            return 409, b'{"code": "recorded_without_decision"}'
        if self.mode == "reject":
            return 422, b'{"detail": [{"field": "timestamp", "message": "secret internal detail"}]}'
        if self.mode == "garbage":
            return 200, b"<html>definitely not json"
        if self.mode == "wrong_shape":
            return 200, b'{"result": "ok", "score": "high"}'
        if self.mode == "unknown_decision":
            return 200, json.dumps(prediction(payload, "MAYBE", 0.2)).encode()
        if self.mode == "wrong_id":
            return 200, json.dumps({**prediction(payload, "APPROVED", 0.1), "transaction_id": "other"}).encode()
        return 200, json.dumps(self._model(payload)).encode()

    def _model(self, payload: dict) -> dict:
        amount = float(payload["amount"])
        blocked = amount > self.BLOCK_ABOVE
        risk = 0.93 if blocked else 0.35 if amount > self.REVIEW_ABOVE else 0.07
        return prediction(payload, "BLOCKED" if blocked else "APPROVED", risk)

    def _batch(self, transactions: list[dict]) -> tuple[int, bytes]:
        if self.batch_status is not None:
            return self.batch_status, b'{"detail": "batch refused"}'
        if any(txn["transaction_id"] in self.conflicts for txn in transactions):
            return 409, b'{"code": "recorded_without_decision"}'
        rows = []
        for txn in transactions:
            fault, row = self.bad_rows.get(txn["transaction_id"]), self._model(txn)
            if fault == "missing":
                continue
            if fault == "wrong_id":
                row["transaction_id"] = "other"
            elif fault == "malformed":
                row["risk_score"] = "high"
            rows.append(row)
        return 200, json.dumps({"results": rows}).encode()


class JWKSStub(StubServer):
    """Publishes the keys in `self.keys`; counts how often it was asked. Also answers the auth API's login,
    refresh and logout for the accounts in `self.accounts` (username -> (password, user_id, is_staff)),
    signing real tokens with the first key, so the console's login proxy can be tested without Django."""

    def __init__(self, keys) -> None:
        super().__init__()
        self.keys = list(keys)
        self.hits = 0
        self.accounts: dict[str, tuple[str, int, bool]] = {}
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> username (single use)
        self.logged_out: list[str] = []
        self.throttled = False
        self.retry_after: str | None = None  # the throttle's Retry-After header, when set
        self.login_delay = 0.0  # seconds login and refresh wait before answering (a slow auth service)
        self.session_answer: bytes | None = None  # a 200 body answered to login and refresh instead of a pair

    def _pair(self, username: str) -> bytes:
        from tests.support.tokens import claims_for

        _, user_id, is_staff = self.accounts[username]
        refresh = f"refresh-{username}-{time.monotonic_ns()}"
        self.refresh_tokens[refresh] = username
        access = self.keys[0].sign(claims_for(user_id, is_staff=is_staff, username=username))
        return json.dumps({"access": access, "refresh": refresh}).encode()

    def handle(self, method, path, headers, body):
        if self.login_delay and path.endswith(("/login/", "/refresh/")):
            time.sleep(self.login_delay)
        if self.session_answer is not None and path.endswith(("/login/", "/refresh/")):
            return 200, self.session_answer
        if path.endswith("/login/"):
            if self.throttled:
                headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
                return 429, b'{"detail": "throttled"}', None, headers
            given = json.loads(body or b"{}")
            account = self.accounts.get(given.get("username"))
            if account is None or account[0] != given.get("password"):
                return 401, b'{"detail": "No active account found with these credentials."}'
            return 200, self._pair(given["username"])
        if path.endswith("/refresh/"):
            username = self.refresh_tokens.pop(json.loads(body or b"{}").get("refresh"), None)
            if username is None:
                return 401, b'{"detail": "Token is blacklisted"}'
            return 200, self._pair(username)
        if path.endswith("/logout/"):
            self.logged_out.append(json.loads(body or b"{}").get("refresh"))
            return 204, b""
        self.hits += 1
        return 200, json.dumps({"keys": [key.jwk() for key in self.keys]}).encode()
