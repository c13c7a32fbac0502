"""The service as a real process: start.sh (alembic upgrade, then uvicorn) on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fastapi_plumbing.testing import free_port

SERVICE_DIR = Path(__file__).resolve().parents[2]
# alembic upgrade + uvicorn: a few seconds when idle, over a minute at a load average above 20. A bound
# only for a hang (an exit fails at once, with the log); under pytest.ini's per-test timeout, so that a
# test starting its own process still fails with this message.
START_TIMEOUT = 240


class RunningApp:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        bin_dir = str(Path(sys.executable).parent)
        full_env = {**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(self.port),
                    "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen([str(SERVICE_DIR / "start.sh")], env=full_env, cwd="/",
                                        stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_until_healthy()

    def _wait_until_healthy(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"service did not become healthy within {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
