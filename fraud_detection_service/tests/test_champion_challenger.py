"""Champion and challenger over HTTP against real service processes: shadow scoring, comparison (endpoint
and command), hot reload (endpoint and SIGHUP), refusal of a broken model, promotion, swaps under load;
with two workers, metrics summed over both and a promotion or reload reaching both."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi_plumbing.testing import eventually, free_port, metric_value, uvicorn_workers
from sqlalchemy import select

from app.db.engine import make_engine
from app.db.tables import transactions
from ml_model.artifacts import METADATA_FILE, install_artifacts, sha256_of
from tests.helpers import DAY0, daily_habit, new_id, transaction
from tests.service_process import SERVICE_DIR, ServiceProcess, service_env


def _version(folder: Path) -> str:
    return json.loads((folder / "model_metadata.json").read_text())["model_version"]


def _threshold(folder: Path) -> float:
    return json.loads((folder / "model_metadata.json").read_text())["threshold"]


@pytest.fixture
def slots(tmp_path, model_dir, second_model_dir) -> tuple[Path, Path]:
    """A champion folder (model_dir's model) and a challenger folder (second_model_dir's), side by side."""
    champion, challenger = tmp_path / "models" / "champion", tmp_path / "models" / "challenger"
    shutil.copytree(model_dir, champion)
    shutil.copytree(second_model_dir, challenger)
    return champion, challenger


class Running:
    def __init__(self, tmp_path: Path, database_url: str, champion: Path, challenger: Path, **settings: str) -> None:
        self.env = service_env(model_dir=champion, data_dir=tmp_path, database_url=database_url,
                               token=secrets.token_urlsafe(24), port=free_port(), **settings)
        self.env["CHALLENGER_MODEL_DIR"] = str(challenger)
        self.log_path = tmp_path / "service.log"
        self.database_url = database_url
        self.start()

    def start(self) -> None:
        self.process = ServiceProcess.start(self.env, self.log_path)
        self.process.wait_ready(workers=int(self.env["WORKERS"]))
        self.client = httpx.Client(base_url=self.process.url, headers={"X-Internal-Token": self.process.token},
                                   timeout=30)

    def stop(self) -> None:
        self.client.close()
        self.process.stop()

    def model(self) -> dict:
        return self.client.get("/model").json()

    def stored(self, transaction_id: str) -> dict:
        engine = make_engine(self.database_url)
        try:
            with engine.connect() as conn:
                row = conn.execute(select(transactions).where(transactions.c.transaction_id == transaction_id)).one()
        finally:
            engine.dispose()
        return row._asdict()


@pytest.fixture
def running(tmp_path, databases, slots):
    service = Running(tmp_path, databases.create("models"), *slots)
    try:
        yield service
    finally:
        service.stop()


def _habit_then(client: httpx.Client, amount: float) -> dict:
    customer, terminal = new_id("cust"), new_id("term")
    batch = client.post("/predict/batch", json={"transactions": daily_habit(customer, terminal, days=10, amount=40.0)})
    assert batch.status_code == 200, batch.text
    tx = transaction(customer, terminal, amount, DAY0 + timedelta(days=10, hours=3))
    response = client.post("/predict", json=tx)
    assert response.status_code == 200, response.text
    return response.json()


def test_challenger_scores_in_shadow_beside_the_champion_and_never_decides(running, slots):
    champion, challenger = slots
    answer = _habit_then(running.client, 2400.0)

    assert answer["model_version"] == _version(champion)
    assert not any(key.startswith("challenger") for key in answer)
    stored = running.stored(answer["transaction_id"])
    assert stored["model_version"] == _version(champion) and stored["decision"] == answer["decision"]
    assert stored["challenger_model_version"] == _version(challenger)
    assert stored["challenger_decision"] in ("APPROVED", "BLOCKED")
    assert 0 <= stored["challenger_risk_score"] <= 1 and stored["challenger_risk_score"] != stored["risk_score"]
    assert running.model()["challenger"]["model_version"] == _version(challenger)
    metrics = running.client.get("/metrics").text
    assert f'fraud_challenger_info{{version="{_version(challenger)}"}} 1.0' in metrics
    assert "fraud_shadow_decisions_total{" in metrics


def test_comparison_endpoint_and_command_report_both_models_on_labelled_transactions(running, slots):
    client = running.client
    sent, frauds = [], []
    for k in range(6):
        customer, terminal = new_id("cust"), new_id("term")
        habit = daily_habit(customer, terminal, days=8, amount=30.0 + 5 * k)
        unusual = transaction(customer, terminal, 1500.0 + 100 * k, DAY0 + timedelta(days=8, hours=2))
        results = client.post("/predict/batch", json={"transactions": [*habit, unusual]}).json()["results"]
        sent += results
        frauds.append(unusual["transaction_id"])
        for tx in (unusual, habit[-1], habit[-2]):
            label = client.post("/feedback", json={"transaction_id": tx["transaction_id"],
                                                   "is_fraud": tx is unusual})
            assert label.status_code == 200, label.text
    period = {"from": DAY0.date().isoformat(), "to": (DAY0 + timedelta(days=8)).date().isoformat()}

    assert httpx.get(f"{running.process.url}/model/comparison", params=period).status_code == 401
    response = client.get("/model/comparison", params=period)
    assert response.status_code == 200, response.text
    result = response.json()

    assert (result["transactions"], result["labelled"], result["frauds"]) == (len(sent), 18, 6)
    assert result["champion"]["model_versions"] == {_version(slots[0]): len(sent)}
    assert result["challenger"]["model_version"] == _version(slots[1])
    for side in ("champion", "challenger"):
        metrics = result[side]
        for key in ("roc_auc", "average_precision", "precision_at_threshold", "recall_at_threshold"):
            assert 0 <= metrics[key] <= 1, (side, key, metrics)
    # The champion blocks the six unusual payments of established habits.
    assert result["champion"]["recall_at_threshold"] == 1.0
    champion_blocked = sum(r["decision"] == "BLOCKED" for r in sent)
    assert result["champion"]["alert_rate"] == pytest.approx(champion_blocked / len(sent))
    rows = [running.stored(r["transaction_id"]) for r in sent]
    differing = sum(row["decision"] != row["challenger_decision"] for row in rows)
    assert result["decisions_changed"]["total"] == differing
    assert result["decisions_changed"]["approved_to_blocked"] + result["decisions_changed"]["blocked_to_approved"] \
        == differing

    command = subprocess.run(
        [sys.executable, "-m", "app.compare_models", "--from", period["from"], "--to", period["to"], "--json",
         "--database-url", running.database_url],
        cwd=SERVICE_DIR, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(SERVICE_DIR.parent)},
    )
    assert command.returncode == 0, command.stderr
    assert json.loads(command.stdout) == result

    inverted = client.get("/model/comparison", params={"from": period["to"], "to": period["from"]})
    assert inverted.status_code == 422


def test_reload_refuses_a_model_failing_verification_and_keeps_serving(running, slots):
    champion, challenger = slots
    serving = _version(champion)
    with (challenger / "isolation_forest_model.pkl").open("ab") as f:
        f.write(b"\0")

    refused = running.client.post("/model/reload")

    assert refused.status_code == 409
    detail = json.dumps(refused.json())
    assert "SHA-256 mismatch" in detail and "isolation_forest_model.pkl" in detail
    assert "reload refused" in running.process.log() and "SHA-256 mismatch" in running.process.log()
    assert running.model()["challenger"]["model_version"] == _version(challenger)  # the loaded one stays
    assert _habit_then(running.client, 45.0)["model_version"] == serving

    (champion / "model_metadata.json").write_text("{not json")
    assert running.client.post("/model/reload").status_code == 409
    assert _habit_then(running.client, 45.0)["model_version"] == serving


def test_promotion_makes_the_challenger_the_champion_and_survives_a_restart(running, slots):
    champion, challenger = slots
    new_version = _version(challenger)

    promoted = running.client.post("/model/promote")

    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["champion"]["model_version"] == new_version
    assert promoted.json()["previous"]["champion"]["model_version"] != new_version
    assert running.model()["model_version"] == new_version and running.model()["challenger"] is None
    assert _habit_then(running.client, 45.0)["model_version"] == new_version
    assert _version(champion) == new_version and not (challenger / "model_metadata.json").exists()
    again = running.client.post("/model/promote")
    assert again.status_code == 409 and "no challenger" in again.text

    running.stop()
    running.start()
    assert running.model()["model_version"] == new_version


def test_sighup_loads_a_new_challenger_without_a_restart(running, slots, model_dir):
    champion, challenger = slots
    install_artifacts(model_dir, challenger)  # the champion's own model, now also in the challenger slot
    pid = running.process.process.pid

    os.kill(pid, signal.SIGHUP)

    deadline = time.monotonic() + 20
    while running.model()["challenger"]["model_version"] != _version(model_dir):
        assert time.monotonic() < deadline, running.process.log()
        time.sleep(0.2)
    assert running.process.process.poll() is None  # same process: reloaded, not restarted
    assert running.process.process.pid == pid


def test_swaps_under_a_stream_of_predictions_fail_no_request_and_stamp_every_decision(running, slots, model_dir,
                                                                                        second_model_dir):
    champion, _ = slots
    thresholds = {_version(folder): _threshold(folder) for folder in (model_dir, second_model_dir)}
    answers: list[dict] = []
    failures: list[str] = []
    enough_swaps = threading.Event()
    sent = [0] * 4

    def stream(worker: int) -> None:
        # At least 150 predictions each, and on until three swaps have happened (a quiet machine answers
        # 600 predictions faster than it reloads three times); bounded at 3,000 each either way.
        with httpx.Client(base_url=running.process.url, headers={"X-Internal-Token": running.process.token},
                          timeout=30) as client:
            for k in range(3_000):
                if k >= 150 and enough_swaps.is_set():
                    return
                tx = transaction(f"stream-{worker}", f"term-{k % 7}", 20.0 + k % 50,
                                 DAY0 + timedelta(days=k // 20, minutes=worker * 300 + k))
                sent[worker] += 1
                response = client.post("/predict", json=tx)
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text}")
                else:
                    answers.append(response.json())

    workers = [threading.Thread(target=stream, args=(w,)) for w in range(4)]
    for w in workers:
        w.start()
    swaps = 0
    while any(w.is_alive() for w in workers):
        install_artifacts(second_model_dir if swaps % 2 == 0 else model_dir, champion)
        reloaded = running.client.post("/model/reload")
        assert reloaded.status_code == 200, reloaded.text
        swaps += 1
        if swaps >= 3:
            enough_swaps.set()
        time.sleep(0.05)
    for w in workers:
        w.join()

    assert failures == []
    assert len(answers) == sum(sent) >= 600 and swaps >= 3
    assert {a["model_version"] for a in answers} == set(thresholds)  # both models decided some
    for answer in answers:
        # The threshold travels with the model: a decision stamped with a version was made by that model.
        assert answer["threshold"] == thresholds[answer["model_version"]]
    for answer in answers[::25]:
        assert running.stored(answer["transaction_id"])["model_version"] == answer["model_version"]


@pytest.fixture
def two_workers(tmp_path, databases, slots):
    champion, challenger = slots
    # Pinned, as in production: the worker that did not promote must accept the promoted model too.
    service = Running(tmp_path, databases.create("workers"), champion, challenger, WORKERS="2",
                      WORKERS_SHARED_DIR=str(tmp_path / "shared"),
                      MODEL_METADATA_SHA256=sha256_of(champion / METADATA_FILE))
    try:
        yield service
    finally:
        service.stop()


def _scrape(service: Running) -> str:
    return httpx.get(f"{service.process.url}/metrics").text  # a new connection: either worker may answer


def _predict_anew(service: Running) -> dict:
    """One /predict on a new connection, so that successive ones are spread over the workers."""
    tx = transaction(new_id("cust"), new_id("term"), 42.0, DAY0)
    response = httpx.post(f"{service.process.url}/predict", json=tx,
                          headers={"X-Internal-Token": service.process.token})
    assert response.status_code == 200, response.text
    return response.json()


def test_two_workers_metrics_count_every_prediction_whichever_worker_answers(two_workers, slots):
    champion, challenger = slots
    eventually(lambda: metric_value(_scrape(two_workers), "fraud_workers") == 2, timeout=30)

    for _ in range(30):
        _predict_anew(two_workers)

    for text in [_scrape(two_workers) for _ in range(8)]:
        assert metric_value(text, "fraud_decisions_total") == 30
        assert metric_value(text, "fraud_http_requests_total", route="/predict", status="200") == 30
        assert metric_value(text, "fraud_http_request_duration_seconds_count", route="/predict") == 30
        assert metric_value(text, "fraud_model_info", version=_version(champion)) == 2  # both workers serve it
        assert metric_value(text, "fraud_challenger_info", version=_version(challenger)) == 2
        assert "fraud_drift_window_samples" in text  # the answering worker's own window


def test_two_workers_a_promotion_or_reload_through_one_reaches_both(two_workers, slots, model_dir):
    champion, challenger = slots
    old, new = _version(champion), _version(challenger)

    assert two_workers.client.post("/model/promote").status_code == 200

    def serving(version: str, metric: str = "fraud_model_info") -> float:
        return metric_value(_scrape(two_workers), metric, version=version)

    eventually(lambda: serving(new) == 2 and serving(old) == 0, timeout=30)
    assert {_predict_anew(two_workers)["model_version"] for _ in range(40)} == {new}

    install_artifacts(model_dir, challenger)  # the previous champion, now in the challenger slot
    reloaded = two_workers.client.post("/model/reload")
    assert reloaded.status_code == 200 and reloaded.json()["challenger"]["model_version"] == old
    eventually(lambda: serving(old, "fraud_challenger_info") == 2, timeout=30)

    # SIGHUP to one worker reaches the other as well.
    (challenger / METADATA_FILE).unlink()  # an empty slot: no challenger
    workers = uvicorn_workers(two_workers.process.process.pid)
    os.kill(workers[0], signal.SIGHUP)
    eventually(lambda: serving(old, "fraud_challenger_info") == 0, timeout=30)
    assert {_predict_anew(two_workers)["model_version"] for _ in range(20)} == {new}
    assert uvicorn_workers(two_workers.process.process.pid) == workers  # reloaded in place, not restarted
