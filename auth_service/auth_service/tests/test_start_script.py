"""start.sh as deployments run it: migrate, then gunicorn with several workers on a real port."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

START_SH = Path(__file__).resolve().parents[2] / "start.sh"
PASSWORD = "plum-Orbit-57-lantern"
# Real Argon2 (~0.4 s a hash when the machine is idle): on a loaded CI machine a login can take seconds,
# and any request waits while both workers hash. Generous bounds: they only cap a hang.
SLOW = 30
# migrate + collectstatic + gunicorn: seconds when idle, minutes at a load average above 20; under
# pytest.ini's per-test timeout (300 s), so that a hang fails with the fixture's message and the log.
START_TIMEOUT = 240


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("live")
    port = _free_port()
    env = {
        "PATH": f"{Path(os.sys.executable).parent}:{os.environ['PATH']}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": "2",
        "DATA_DIR": str(data_dir),
        "LOG_FORMAT": "json",
        # The per-IP budget makes test_login_limit_holds_across_workers independent of timing: the first
        # username+IP delay is 1 s, which a loaded machine can spend between two requests.
        "LOGIN_FAILURES_PER_IP": "5",
    }
    log = (data_dir / "server.log").open("w")
    # From another working directory: the script must find its own folder.
    process = subprocess.Popen([str(START_SH)], cwd=data_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready/", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, (data_dir / "server.log").read_text()
        time.sleep(0.3)
    else:
        pytest.fail("auth service did not become ready:\n" + (data_dir / "server.log").read_text())
    yield url, process, data_dir
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=30)
    log.close()


def test_every_worker_signs_with_the_one_key_it_publishes(server):
    url = server[0]
    kids = {httpx.get(f"{url}/api/auth/jwks/", timeout=SLOW).json()["keys"][0]["kid"] for _ in range(6)}
    assert len(kids) == 1
    assert (server[2] / "keys" / "jwt_private.pem").exists()
    body = {"username": "livecustomer", "email": "live@example.com", "password": PASSWORD}
    assert httpx.post(f"{url}/api/auth/register/", json=body, timeout=SLOW).status_code == 201
    for _ in range(4):
        tokens = httpx.post(
            f"{url}/api/auth/login/", json={"username": "livecustomer", "password": PASSWORD}, timeout=SLOW
        )
        me = httpx.get(f"{url}/api/auth/me/", headers={"Authorization": f"Bearer {tokens.json()['access']}"},
                       timeout=SLOW)
        assert me.status_code == 200


def test_login_limit_holds_across_workers(server):
    url = server[0]
    # Spread over both workers (new connection each time); a per-process cache would allow ~2x.
    answers = [
        httpx.post(f"{url}/api/auth/login/", json={"username": "victim", "password": "guess-number-x"},
                   timeout=SLOW).status_code
        for _ in range(8)
    ]
    assert answers[:5] == [401] * 5
    assert answers[5:] == [429] * 3


def _sample(metrics_text: str, name: str, **labels) -> float:
    return next(
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == name and sample.labels == labels
    )


def test_metrics_add_up_every_workers_counts(server):
    url = server[0]
    # test_login_limit_holds_across_workers ran first: 5 failures, then 3 attempts made to wait.
    for _ in range(4):  # a new connection each time: either worker may answer, with the same totals
        text = httpx.get(f"{url}/metrics", timeout=SLOW).text
        assert _sample(text, "auth_login_failures_total", via="api") == 5
        assert _sample(text, "auth_login_delayed_total", via="api") == 3
        assert _sample(text, "auth_login_lockouts_total", via="api", scope="username_ip") == 1
        assert _sample(text, "auth_login_lockouts_total", via="api", scope="ip") == 1
        login_429 = _sample(text, "auth_http_requests_total", method="POST", route="/api/auth/login/", status="429")
        assert login_429 == 3


def test_the_sqlite_file_holding_password_hashes_is_private(server):
    assert (server[2] / "auth.sqlite3").stat().st_mode & 0o777 == 0o600


def test_logs_are_json_lines_with_request_ids(server):
    httpx.get(f"{server[0]}/api/auth/jwks/", headers={"X-Request-ID": "trace-me-42"}, timeout=SLOW)

    def logged() -> bool:
        lines = (server[2] / "server.log").read_text().splitlines()
        return any('"request_id": "trace-me-42"' in line and line.startswith("{") for line in lines)

    deadline = time.monotonic() + SLOW  # the line is written after the answer is sent
    while not logged() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert logged()


def test_admin_is_served_with_its_static_files(server):
    url = server[0]
    login_page = httpx.get(f"{url}/admin/login/", timeout=SLOW)
    assert login_page.status_code == 200
    stylesheet = next(part.split('"')[0] for part in login_page.text.split('href="') if part.startswith("/static/"))
    assert httpx.get(f"{url}{stylesheet}", timeout=SLOW).status_code == 200


def test_sigterm_stops_the_server_promptly(server):
    process = server[1]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
