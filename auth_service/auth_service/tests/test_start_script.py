"""start.sh as deployments run it: migrate, then gunicorn with several workers on a real port."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

START_SH = Path(__file__).resolve().parents[2] / "start.sh"
PASSWORD = "plum-Orbit-57-lantern"


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
    }
    log = (data_dir / "server.log").open("w")
    # From another working directory: the script must find its own folder.
    process = subprocess.Popen([str(START_SH)], cwd=data_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready/", timeout=1).status_code == 200:
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
    kids = {httpx.get(f"{url}/api/auth/jwks/").json()["keys"][0]["kid"] for _ in range(6)}
    assert len(kids) == 1
    assert (server[2] / "keys" / "jwt_private.pem").exists()
    body = {"username": "livecustomer", "email": "live@example.com", "password": PASSWORD}
    assert httpx.post(f"{url}/api/auth/register/", json=body).status_code == 201
    for _ in range(4):
        tokens = httpx.post(f"{url}/api/auth/login/", json={"username": "livecustomer", "password": PASSWORD})
        me = httpx.get(f"{url}/api/auth/me/", headers={"Authorization": f"Bearer {tokens.json()['access']}"})
        assert me.status_code == 200


def test_login_limit_holds_across_workers(server):
    url = server[0]
    # Spread over both workers (new connection each time); a per-process cache would allow ~2x.
    answers = [
        httpx.post(f"{url}/api/auth/login/", json={"username": "victim", "password": "guess-number-x"}).status_code
        for _ in range(8)
    ]
    assert answers[:5] == [401] * 5
    assert answers[5:] == [429] * 3


def test_logs_are_json_lines_with_request_ids(server):
    httpx.get(f"{server[0]}/api/auth/jwks/", headers={"X-Request-ID": "trace-me-42"})
    time.sleep(0.2)
    lines = (server[2] / "server.log").read_text().splitlines()
    assert any('"request_id": "trace-me-42"' in line and line.startswith("{") for line in lines)


def test_admin_is_served_with_its_static_files(server):
    url = server[0]
    login_page = httpx.get(f"{url}/admin/login/")
    assert login_page.status_code == 200
    stylesheet = next(part.split('"')[0] for part in login_page.text.split('href="') if part.startswith("/static/"))
    assert httpx.get(f"{url}{stylesheet}").status_code == 200


def test_sigterm_stops_the_server_promptly(server):
    process = server[1]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
