"""bench_fraud_service.bench_http (the /predict ÷ /health and history measures) against a server that
records the order of what it got."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import bench_fraud_service  # noqa: E402


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # its answers are two writes (headers, body): no 40 ms wait for an ACK
    seen: list[str] = []
    arrived: list[float] = []  # when each request's line was read
    hold = 0.0  # how long each answer waits after its request arrived

    def _answer(self, kind: str) -> None:
        Recorder.seen.append(kind)
        Recorder.arrived.append(self.arrival)
        time.sleep(Recorder.hold)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
        self.wfile.flush()

    def parse_request(self):
        self.arrival = time.monotonic()  # its request line just read
        return super().parse_request()

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self._answer("health")

    def do_POST(self):  # noqa: N802
        customer = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["customer_id"]
        self._answer(customer.split("-")[0] if customer.startswith(("heavy", "light")) else "predict")

    def log_message(self, *args):
        pass


def _bench(requests: int, gap_s: float, hold_s: float = 0.0) -> dict:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        Recorder.seen, Recorder.arrived, Recorder.hold = [], [], hold_s
        return bench_fraud_service.bench_http(
            SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}", token="t"), requests=requests, gap_s=gap_s)
    finally:
        server.shutdown()


def test_every_kind_of_request_takes_its_turn_first():
    result = _bench(requests=8, gap_s=0.0)
    measured = Recorder.seen[50 * 4:]  # after the warm-up
    rounds = [measured[i:i + 4] for i in range(0, len(measured), 4)]
    # 8 paced rounds and 8 back to back, each in the same turn of orders
    assert len(rounds) == 16 and all(sorted(r) == ["health", "heavy", "light", "predict"] for r in rounds)
    assert rounds[:8] == rounds[8:]
    followers = {(r[i], r[i + 1]) for r in rounds for i in range(3)}
    assert ("predict", "heavy") in followers and ("light", "heavy") in followers  # heavy follows more than one
    assert {r[0] for r in rounds} == {"health", "heavy", "light", "predict"}
    assert result["history_ratio"] > 0 and result["back_to_back"]["history_ratio"] > 0


def test_paced_requests_meet_an_idle_service():
    """Every paced request reaches the server at least the gap after the previous answer left it (nothing
    else of the service's, such as a record written after an answer, overlaps it); the back-to-back ones are
    measured too, and reported apart.

    Each answer is held ``hold`` after its request arrived, so a paced request arrives at least hold + gap
    after the one before it, and one sent at a fixed rate (gap after the previous *send*) would not. Both
    times are arrivals, taken before the answer goes out: a server thread that is slow to be scheduled
    cannot shorten the interval measured (a time taken after the answer was written could be late)."""
    gap, hold = 0.02, 0.005
    result = _bench(requests=16, gap_s=gap, hold_s=hold)
    quiet = [after - before - hold for before, after in zip(Recorder.arrived, Recorder.arrived[1:], strict=False)]
    measured = quiet[50 * 4 - 1:]  # each measured request's quiet time before it
    paced = [q for q in measured if q >= gap]
    assert len(measured) == 2 * 16 * 4 and len(paced) >= 16 * 4
    # blocks of 8 rounds (32 requests), each block of rounds paced and back to back, which first in turn
    assert all(q >= gap for q in measured[:32] + measured[96:])
    assert result["pacing_gap_ms"] == gap * 1e3
    assert set(result["back_to_back"]) == {k for k in result if k not in ("back_to_back", "pacing_gap_ms")}
