"""The benchmark's wrk driver (scripts/bench/wrk.py + capture.lua) against a server that records what it got."""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import bench.wrk as wrk  # noqa: E402


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, dict]] = []
    fail_every = 0  # answer 503 to every n-th request when set
    stall = (0, 0.0)  # (request number, seconds): hold that one request this long before answering

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Recorder.seen.append((self.path, self.headers.get("Authorization", ""), body))
        status = 503 if Recorder.fail_every and len(Recorder.seen) % Recorder.fail_every == 0 else 201
        if len(Recorder.seen) == Recorder.stall[0]:
            time.sleep(Recorder.stall[1])
        payload = b"{}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder(serve):
    Recorder.seen = []
    Recorder.fail_every = 0
    Recorder.stall = (0, 0.0)
    return serve(Recorder)


def test_every_request_is_a_fresh_capture_with_the_callers_tokens_in_turn(recorder):
    result = wrk.closed_loop(recorder, tokens=["tok-a", "tok-b", "tok-c"], concurrency=2, threads=2,
                             duration=1, terminals=7)
    answered = sum(result.statuses.values())
    # wrk stops at its deadline with up to one request per connection sent but not yet answered.
    assert len(Recorder.seen) - 2 <= answered <= len(Recorder.seen) and answered > 10
    assert result.ok == answered and result.errors == 0
    paths = {path for path, _, _ in Recorder.seen}
    assert paths == {"/transactions"}
    assert {auth for _, auth, _ in Recorder.seen} == {"Bearer tok-a", "Bearer tok-b", "Bearer tok-c"}
    bodies = [body for _, _, body in Recorder.seen]
    # Two threads interleave request numbers, so no two requests carry the same (amount, terminal) pair
    # until the amounts wrap after 9,000 requests.
    assert len({(b["amount"], b["terminal_id"]) for b in bodies}) == len(bodies)
    assert {b["terminal_id"] for b in bodies} <= {f"T-{i:05d}" for i in range(7)}
    assert all(b["currency"] == "EUR" and 10 <= float(b["amount"]) < 100 for b in bodies)
    assert result.client_cpu_s > 0 and result.summary()["load_generator_cpu_ms_per_request"] > 0


def test_statuses_other_than_the_expected_one_are_errors(recorder):
    Recorder.fail_every = 4
    result = wrk.closed_loop(recorder, tokens=[], concurrency=1, duration=1)
    answered = sum(result.statuses.values())  # one connection: the first `answered` requests, in order
    assert len(Recorder.seen) - 1 <= answered <= len(Recorder.seen) and answered >= 8
    assert result.statuses[503] == answered // 4
    assert result.errors == result.statuses[503] > 0
    assert result.ok == answered - answered // 4
    assert all(auth == "" for _, auth, _ in Recorder.seen)  # no tokens given, no Authorization header


def test_a_server_that_is_not_there_fails_the_measure_loudly():
    from stack import free_port

    with pytest.raises(RuntimeError, match="unable to connect"):
        wrk.closed_loop(f"http://127.0.0.1:{free_port()}", tokens=[], concurrency=1, duration=1)


def test_parse_reads_the_result_line_among_wrks_own_output():
    output = ("Running 1s test @ http://x\n  1 threads and 1 connections\n"
              'WRK_RESULT {"requests": 10, "duration_us": 2000000, "statuses": {"201": 9, "500": 1}, '
              '"errors": {"connect": 0, "read": 0, "write": 0, "timeout": 2}, '
              '"latency_us": {"p50": 1500, "p90": 2000, "p99": 4000, "max": 5000}}\n')
    result = wrk.parse(output, "x", expect=201)
    assert result.ok == 9 and result.errors == 1 + 2 and result.throughput == 4.5
    assert result.percentile_ms(99) == 4.0 and result.socket_errors == {"timeout": 2}
    with pytest.raises(RuntimeError, match="no result line"):
        wrk.parse("wrk: usage", "x", expect=201)


def test_the_open_loop_keeps_to_its_rate_and_records_every_answer(recorder):
    result = wrk.open_loop(recorder, tokens=["tok-a"], rate=40, duration=2, connections=4)
    # Never ahead of its schedule: 80 sends due in 2 s, plus the one each connection sends at its start.
    assert 40 <= len(Recorder.seen) <= 80 + 4
    assert result.ok == len(result.latencies_s) == result.statuses[201] and result.errors == 0
    assert len(Recorder.seen) - 4 <= result.ok <= len(Recorder.seen)
    assert result.target_rate == 40 and result.load_generator == "wrk" and result.client_cpu_s > 0
    assert {auth for _, auth, _ in Recorder.seen} == {"Bearer tok-a"}
    assert set(result.send_lag_ms) == {"p50", "p99", "max"} and result.behind_at_end is not None


def test_the_open_loop_charges_a_stall_to_every_request_it_delayed(recorder):
    # One connection, a request every 50 ms, the 5th held for 600 ms: the ~12 requests due meanwhile
    # leave late, and each counts from when it was due. Timed from its actual send (wrk's own latency,
    # coordinated omission) only the held one would look slow.
    Recorder.stall = (5, 0.6)
    result = wrk.open_loop(recorder, tokens=[], rate=20, duration=2, connections=1)
    slow = [latency for latency in result.latencies_s if latency > 0.25]
    assert len(slow) >= 5 and max(result.latencies_s) >= 0.6
    assert result.percentile_ms(90) > 250
