"""bench_fraud_service.bench_http (the /predict ÷ /health and history measures) against a server that
records the order of what it got."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import bench_fraud_service  # noqa: E402


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[str] = []

    def _answer(self, kind: str) -> None:
        Recorder.seen.append(kind)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self._answer("health")

    def do_POST(self):  # noqa: N802
        customer = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["customer_id"]
        self._answer(customer.split("-")[0] if customer.startswith(("heavy", "light")) else "predict")

    def log_message(self, *args):
        pass


def test_every_kind_of_request_takes_its_turn_first():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        Recorder.seen = []
        result = bench_fraud_service.bench_http(
            SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}", token="t"), requests=8)
    finally:
        server.shutdown()
    measured = Recorder.seen[50 * 4:]  # after the warm-up
    rounds = [measured[i:i + 4] for i in range(0, len(measured), 4)]
    assert len(rounds) == 8 and all(sorted(r) == ["health", "heavy", "light", "predict"] for r in rounds)
    followers = {(r[i], r[i + 1]) for r in rounds for i in range(3)}
    assert ("predict", "heavy") in followers and ("light", "heavy") in followers  # heavy follows more than one
    assert {r[0] for r in rounds} == {"health", "heavy", "light", "predict"}
    assert result["history_ratio"] > 0
