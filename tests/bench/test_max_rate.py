"""The max-rate runs' concurrency (benchmark._probe_connections) on servers wrk saturates or not."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import benchmark  # noqa: E402


class Answer(BaseHTTPRequestHandler):
    """Answers 201 after ``wait`` s; with ``one_at_a_time`` only one request is in that wait at once."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: Nagle would hold the second
    wait = 0.0
    one_at_a_time = False
    answered = 0  # read by the tests as a service's counter
    _lock = threading.Lock()
    _counting = threading.Lock()

    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers["Content-Length"]))
        with Answer._counting:
            Answer.answered += 1
        if Answer.one_at_a_time:
            with Answer._lock:
                time.sleep(Answer.wait)
        else:
            time.sleep(Answer.wait)
        self.send_response(201)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def server(serve):
    return serve(Answer)


PLAN = benchmark.Plan(duration=5, concurrency=2, soak_seconds=0, probe_max=True)  # 2 s probes from 2 connections


def test_a_server_whose_requests_wait_side_by_side_is_probed_until_its_rate_stops_rising(server):
    Answer.wait, Answer.one_at_a_time = 0.02, False  # each request waits 20 ms, any number at once
    connections, rates = benchmark._probe_connections(server, [], PLAN, expect=201)
    assert list(rates) == [2, 4, 8, 16]  # every doubling added throughput, up to 8 × --concurrency
    assert rates[16] > 3 * rates[2]
    assert connections == 16


def test_a_saturated_server_keeps_the_starting_concurrency(server):
    Answer.wait, Answer.one_at_a_time = 0.01, True  # one request at a time: more in flight only queue
    connections, rates = benchmark._probe_connections(server, [], PLAN, expect=201)
    assert list(rates) == [2, 4], rates  # one doubling that added nothing, then it stopped
    assert connections == 2


def test_the_knee_is_the_fewest_connections_near_the_best_rate():
    assert benchmark.knee({16: 734, 32: 1027, 64: 1111}) == 64  # 1,027 is 8 % short of the best
    assert benchmark.knee({16: 734, 32: 1090, 64: 1111}) == 32  # within 5 %
    assert benchmark.knee({16: 6600, 32: 6400}) == 16


def test_readings_count_the_measured_run_only_not_the_probes_or_the_warm_up(server):
    Answer.wait, Answer.one_at_a_time = 0.02, False
    before = Answer.answered
    meter = benchmark.CpuMeter({})
    measured = benchmark._max(server, [], "stub", PLAN, meter, expect=201,
                              readings=lambda: Counter(answered=Answer.answered))
    peak = measured["max"]
    # wrk stops with up to one request per connection sent and not yet counted by it
    assert peak.ok <= measured["moved"]["answered"] <= peak.ok + measured["connections"]
    assert Answer.answered - before > 2 * measured["moved"]["answered"]  # probes and warm-up were served too
