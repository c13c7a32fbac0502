"""Start the three services as real processes on free loopback ports, from a given data folder.

Used by the end-to-end tests (tests/e2e) and the benchmark (scripts/benchmark.py): each service is
launched through its own start.sh, exactly as `make run` and the containers do, so what is tested is what
runs. Every process gets its own session so that stopping it also stops its workers.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script, scripts/ is on the path but not the repository root
    sys.path.append(str(ROOT))

from fastapi_plumbing.testing import free_port  # noqa: E402

SERVICES = {
    # name: (folder, readiness path)
    "auth": ("auth_service", "/ready/"),
    "fraud": ("fraud_detection_service", "/ready"),
    "transactions": ("transaction_service", "/ready"),
}
# The services that `workers` applies to (the auth service keeps one: the benchmark measures these two).
SCALED = ("fraud", "transactions")
# uvicorn logs this once per worker when its lifespan startup has finished.
WORKER_STARTED = b"Application startup complete"


def stop_group(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM the process's whole session (server and workers), SIGKILL what outlives the timeout."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


@dataclass
class LocalStack:
    data_dir: Path
    model_dir: Path
    database_urls: dict[str, str] = field(default_factory=dict)  # service name -> DATABASE_URL
    extra_env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=lambda: {name: free_port() for name in SERVICES})
    internal_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    workers: int = 1  # WORKERS of the transaction and fraud services
    _log_offsets: dict[str, int] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def env(self, name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORT", "POSTGRES_URL")}
        env.update(
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            ENVIRONMENT="development",
            DATA_DIR=str(self.data_dir),
            MODEL_DIR=str(self.model_dir),
            HOST="127.0.0.1",
            PORT=str(self.ports[name]),
            WORKERS=str(self.workers if name in SCALED else 1),
            INTERNAL_TOKEN=self.internal_token,
            AUTH_JWKS_URL=f"{self.url('auth')}/api/auth/jwks/",
            FRAUD_SERVICE_URL=self.url("fraud"),
        )
        if name in self.database_urls:
            env["DATABASE_URL"] = self.database_urls[name]
        env.update(self.extra_env)
        return env

    def log_path(self, name: str) -> Path:
        return self.data_dir / f"{name}.log"

    def manage(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run an auth_service management command against this stack's auth database (secrets go in env,
        e.g. STAFF_PASSWORD, never in args)."""
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT / "auth_service", env={**self.env("auth"), **(env or {})},
            check=True, capture_output=True, text=True, timeout=120,
        )

    def start(self, name: str, timeout: float = 90) -> None:
        folder, _ = SERVICES[name]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path(name).open("ab")
        self._log_offsets[name] = log.tell()
        self.processes[name] = subprocess.Popen(
            [str(ROOT / folder / "start.sh")], cwd=ROOT, env=self.env(name),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.wait_ready(name, timeout)

    def wait_ready(self, name: str, timeout: float) -> None:
        """Until /ready answers 200 and, with several workers, every worker has started: /ready is
        answered by whichever worker is up first, and a measurement must not start on half of them."""
        _, ready_path = SERVICES[name]
        workers = int(self.env(name)["WORKERS"]) if name in SCALED else 1  # auth: gunicorn, not uvicorn
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; log:\n{self.tail(name)}")
            try:
                if (httpx.get(self.url(name) + ready_path, timeout=2).status_code == 200
                        and (workers == 1 or self.workers_started(name) >= workers)):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{name} not ready after {timeout}s; log:\n{self.tail(name)}")

    def workers_started(self, name: str) -> int:
        """Workers of this start of ``name`` that have finished their startup (from its log)."""
        with self.log_path(name).open("rb") as log:
            log.seek(self._log_offsets.get(name, 0))
            return log.read().count(WORKER_STARTED)

    def stop(self, name: str, timeout: float = 15) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            stop_group(process, timeout)

    def start_all(self) -> None:
        for name in SERVICES:  # auth first: the transaction service reads its JWKS
            self.start(name)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.log_path(name)
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
