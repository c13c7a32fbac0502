"""The fraud service as a real process: start.sh (migrations, then uvicorn) on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

SERVICE_DIR = Path(__file__).resolve().parents[1]


def service_env(*, model_dir: Path, data_dir: Path, database_url: str, token: str, port: int,
                **settings: str) -> dict[str, str]:
    """The environment of a service process; ``settings`` adds or overrides variables."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "POSTGRES_URL")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        ENVIRONMENT="test", MODEL_DIR=str(model_dir), DATA_DIR=str(data_dir), DATABASE_URL=database_url,
        INTERNAL_TOKEN=token, HOST="127.0.0.1", PORT=str(port), WORKERS="1", LOG_FORMAT="json",
    )
    env.update(settings)
    return env


@dataclass
class ServiceProcess:
    process: subprocess.Popen
    url: str
    token: str
    log_path: Path

    @classmethod
    def start(cls, env: dict[str, str], log_path: Path) -> ServiceProcess:
        log = log_path.open("ab")
        process = subprocess.Popen([str(SERVICE_DIR / "start.sh")], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        return cls(process, f"http://127.0.0.1:{env['PORT']}", env["INTERNAL_TOKEN"], log_path)

    def wait_ready(self, timeout: float = 60, workers: int = 1) -> None:
        """Until /ready answers and ``workers`` workers have finished their startup (uvicorn logs it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"fraud service exited with {self.process.returncode}:\n{self.log()}")
            try:
                if (httpx.get(f"{self.url}/ready", timeout=2).status_code == 200
                        and self.log().count("Application startup complete") >= workers):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"fraud service not ready after {timeout}s:\n{self.log()}")

    def wait_exit(self, timeout: float = 60) -> int:
        return self.process.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
