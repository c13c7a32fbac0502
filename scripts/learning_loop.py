#!/usr/bin/env python
"""The learning loop end to end on the real processes (issue 15): simulated traffic through the public API,
analyst labels through the staff label route, export, a challenger trained on it, loaded in shadow while
captures flow, compared with the champion on the labelled shadow period, promoted while captures flow,
hot-reloaded, and new captures carrying the new model version.

    python scripts/learning_loop.py                      # make loop; SQLite, a fresh data folder
    python scripts/learning_loop.py --postgres postgresql://postgres@127.0.0.1:5432/postgres
    python scripts/learning_loop.py --quick --json loop.json

The simulated days are split in three: history (replayed, labelled, exported, the challenger's training
data), the shadow period (replayed with the challenger loaded, labelled, compared), and the final days
(replayed across the promotion and a reload). Labelling: every fraud and ``--legit-label-share`` of the
legitimate transactions, the way analysts and chargebacks would report them. Exit 0 when every check
passes; each step prints what it did.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from stack import LocalStack  # noqa: E402

from ml_model.artifacts import install_artifacts  # noqa: E402
from ml_model.simulate import simulate_transactions  # noqa: E402
from ml_model.training import train_and_save  # noqa: E402

STAFF_USER = "loop_analyst"


def cents(amount: float) -> str:
    """A simulated amount as the API takes it: two decimals, at least 0.01 (a few card tests draw less)."""
    return f"{max(round(amount, 2), 0.01):.2f}"


class LoopFailed(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise LoopFailed(message)


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


@dataclass
class Staff:
    """The analyst's session on the public API (logs in again when the short-lived access token expires)."""

    auth_url: str
    api_url: str
    password: str
    _token: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def login(self) -> None:
        response = httpx.post(f"{self.auth_url}/api/auth/login/",
                              json={"username": STAFF_USER, "password": self.password}, timeout=30)
        check(response.status_code == 200, f"staff login failed: {response.status_code} {response.text}")
        self._token = response.json()["access"]

    def token(self) -> str:
        self.login()
        return self._token

    def call(self, client: httpx.Client, method: str, path: str, body: dict) -> httpx.Response:
        for _ in range(2):
            token = self._token
            response = client.request(method, f"{self.api_url}{path}", json=body,
                                      headers={"Authorization": f"Bearer {token}"})
            if response.status_code != 401:
                return response
            with self._lock:
                if self._token == token:
                    self.login()
        return response


@dataclass
class Replayed:
    """What the public API answered for each replayed row (index → capture), and what went wrong."""

    captures: dict[int, dict] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def versions(self, indices) -> Counter:
        return Counter(self.captures[i]["model_version"] for i in indices if i in self.captures)


def replay(staff: Staff, raw: pd.DataFrame, replayed: Replayed, workers: int) -> None:
    """Capture ``raw`` through POST /transactions as staff (customer and time of the simulation). Each worker
    owns a set of customers and sends theirs in time order, so a customer's history arrives as it happened."""
    rows = list(raw.itertuples())
    shards = [[r for r in rows if hash(r.customer_id) % workers == w] for w in range(workers)]

    def send(shard) -> None:
        with httpx.Client(timeout=60) as client:
            for r in shard:
                body = {"amount": cents(r.tx_amount), "currency": "EUR", "terminal_id": str(r.terminal_id),
                        "customer_id": str(r.customer_id), "timestamp": r.tx_datetime.isoformat()}
                response = staff.call(client, "POST", "/transactions", body)
                answer = response.json() if response.status_code == 201 else None
                if answer is None or answer.get("decided_by") != "model":
                    replayed.failures.append(f"{response.status_code} {response.text[:200]}")
                else:
                    replayed.captures[r.Index] = answer

    threads = [threading.Thread(target=send, args=(shard,)) for shard in shards]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def label(staff: Staff, raw: pd.DataFrame, replayed: Replayed, share: float, seed: int,
          workers: int) -> dict[int, bool]:
    """Every fraud and ``share`` of the legitimate transactions, through the staff label route."""
    rng = np.random.default_rng(seed)
    chosen = {i: bool(f) for i, f in zip(raw.index, raw["tx_fraud"], strict=True)
              if i in replayed.captures and (f == 1 or rng.random() < share)}
    items = list(chosen.items())
    failures: list[str] = []

    def send(part) -> None:
        with httpx.Client(timeout=60) as client:
            for i, is_fraud in part:
                path = f"/transactions/{replayed.captures[i]['id']}/label"
                response = staff.call(client, "POST", path, {"is_fraud": is_fraud})
                if response.status_code != 200 or response.json().get("feedback") != "delivered":
                    failures.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=send, args=(items[w::workers],)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not failures, f"{len(failures)} labels failed, first: {failures[:1]}")
    return chosen


def export(stack: LocalStack, path: Path, last_day: pd.Timestamp) -> pd.DataFrame:
    """The fraud service's recorded history up to ``last_day`` with its latest labels, by the export command
    (scripts/export_history.sh, the raw CSV schema train_model.py --data reads)."""
    database_url = stack.database_urls.get("fraud") or f"sqlite:///{stack.data_dir / 'fraud.sqlite3'}"
    result = subprocess.run([str(ROOT / "scripts" / "export_history.sh"), "--out", str(path),
                             "--to", f"{last_day:%Y-%m-%d}", "--database-url", database_url],
                            capture_output=True, text=True, timeout=1800)
    check(result.returncode == 0, f"export failed ({result.returncode}): {result.stderr[-2000:]}")
    return pd.read_csv(path, dtype={"transaction_id": str, "customer_id": str, "terminal_id": str})


def fraud(stack: LocalStack, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{stack.url('fraud')}{path}", headers={"X-Internal-Token": stack.internal_token},
                         timeout=120, **kwargs)


def stream_during(staff: Staff, raw: pd.DataFrame, replayed: Replayed, workers: int, action) -> object:
    """Replay ``raw`` while ``action()`` runs (started once captures are flowing); returns its result."""
    thread = threading.Thread(target=replay, args=(staff, raw, replayed, workers))
    thread.start()
    time.sleep(0.5)
    try:
        return action()
    finally:
        thread.join()


def run(args: argparse.Namespace, work: Path) -> dict:
    summary: dict = {"backend": "postgresql" if args.postgres else "sqlite"}
    raw = simulate_transactions(days=args.days, customers=args.customers, terminals=args.terminals, seed=args.seed)
    start = raw["tx_datetime"].min().normalize()
    shadow_from = start + pd.Timedelta(days=args.days - args.shadow_days - args.final_days)
    final_from = start + pd.Timedelta(days=args.days - args.final_days)
    history = raw[raw["tx_datetime"] < shadow_from]
    shadow = raw[(raw["tx_datetime"] >= shadow_from) & (raw["tx_datetime"] < final_from)]
    final = raw[raw["tx_datetime"] >= final_from]

    models = work / "models"
    champion_dir, challenger_dir = models / "champion", models / "challenger"
    challenger_dir.mkdir(parents=True)
    if args.champion_dir:
        shutil.copytree(args.champion_dir, champion_dir)
    else:
        train_and_save(champion_dir)  # a small real model, seconds
    champion_version = json.loads((champion_dir / "model_metadata.json").read_text())["model_version"]

    password = "Loop-" + uuid.uuid4().hex
    # Per-user rate limits off: one staff account replays the whole simulated history (a bulk import).
    stack = LocalStack(data_dir=work / "data", model_dir=champion_dir,
                       extra_env={"CHALLENGER_MODEL_DIR": str(challenger_dir), "LOG_LEVEL": "WARNING",
                                  "RATE_LIMIT_CAPTURES_PER_MINUTE": "0", "RATE_LIMIT_LISTINGS_PER_MINUTE": "0"})
    databases = _postgres_databases(args.postgres, stack) if args.postgres else None
    try:
        step(f"start the stack ({summary['backend']}; champion {champion_version})")
        stack.manage("migrate", "--noinput")
        stack.manage("ensure_staff_user", "--username", STAFF_USER, "--email", "loop@example.com",
                     env={"STAFF_PASSWORD": password})
        stack.start_all()
        staff = Staff(stack.url("auth"), stack.url("transactions"), password)
        staff.login()
        replayed = Replayed()

        step(f"simulate traffic through the public API: {len(history):,} captures "
             f"({history['tx_datetime'].min():%Y-%m-%d} .. {history['tx_datetime'].max():%Y-%m-%d})")
        began = time.perf_counter()
        replay(staff, history, replayed, args.workers)
        check(not replayed.failures, f"{len(replayed.failures)} captures failed, first: {replayed.failures[:1]}")
        print(f"   {len(history) / (time.perf_counter() - began):.0f} captures/s, all decided by "
              f"{dict(replayed.versions(history.index))}")

        step("label part of it through the staff label route")
        labels = label(staff, history, replayed, args.legit_label_share, args.seed, args.workers)
        print(f"   {len(labels):,} labels, {sum(labels.values())} frauds")

        step("export the history (scripts/export_history.sh)")
        csv_path = work / "history.csv"
        exported = export(stack, csv_path, shadow_from - pd.Timedelta(days=1))
        sent = {replayed.captures[i]["id"]: labels.get(i) for i in history.index}
        check(set(exported["transaction_id"]) == set(sent), "the export is not the replayed history")
        exported_labels = dict(zip(exported["transaction_id"], exported["tx_fraud"], strict=True))
        check(all((sent[t] is None and pd.isna(v)) or (sent[t] is not None and v == int(sent[t]))
                  for t, v in exported_labels.items()), "the export's labels are not the ones sent")
        print(f"   {len(exported):,} rows, {int(exported['tx_fraud'].notna().sum()):,} labelled -> {csv_path}")

        step(f"train a {args.model} challenger on it")
        trained = work / "trained"
        # The real test is the shadow period; training keeps its last 3 days for its own report.
        eval_to = shadow_from - pd.Timedelta(days=1)
        eval_from = eval_to - pd.Timedelta(days=2)
        command = [sys.executable, str(ROOT / "ml_model" / "train_model.py"), "--data", str(csv_path),
                   "--output-dir", str(trained), "--report-dir", str(work / "report"),
                   "--train-from", f"{start + pd.Timedelta(days=7):%Y-%m-%d}",
                   "--train-to", f"{eval_from - pd.Timedelta(days=1):%Y-%m-%d}",
                   "--eval-from", f"{eval_from:%Y-%m-%d}", "--eval-to", f"{eval_to:%Y-%m-%d}"]
        command += ["--model", args.model]
        result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        check(result.returncode == 0, f"training failed ({result.returncode}): {result.stderr[-2000:]}")
        trained_metadata = json.loads((trained / "model_metadata.json").read_text())
        challenger_version = trained_metadata["model_version"]
        summary["challenger_kind"] = trained_metadata.get("model_kind", "isolation_forest")
        print(f"   {challenger_version} ({trained_metadata.get('model_type')})")

        step("load it as challenger (hot reload while captures flow)")
        shadow_rows = shadow.index
        first_part = shadow.iloc[: len(shadow) // 5]
        install_artifacts(trained, challenger_dir)
        reloaded = stream_during(staff, first_part, replayed, args.workers,
                                 lambda: fraud(stack, "POST", "/model/reload"))
        check(reloaded.status_code == 200, f"reload refused: {reloaded.text}")
        check(reloaded.json()["challenger"]["model_version"] == challenger_version, "challenger not loaded")
        replay(staff, shadow.iloc[len(shadow) // 5:], replayed, args.workers)
        check(not replayed.failures, f"{len(replayed.failures)} captures failed, first: {replayed.failures[:1]}")
        check(set(replayed.versions(shadow_rows)) == {champion_version}, "a shadow-period decision not by the champion")
        shadow_labels = label(staff, shadow, replayed, args.legit_label_share, args.seed + 1, args.workers)
        print(f"   {len(shadow):,} captures in shadow, {len(shadow_labels):,} labels "
              f"({sum(shadow_labels.values())} frauds)")

        step("compare champion and challenger on the labelled shadow period")
        period = {"from": f"{shadow_from:%Y-%m-%d}", "to": f"{final_from - pd.Timedelta(days=1):%Y-%m-%d}"}
        compared = fraud(stack, "GET", "/model/comparison", params=period)
        check(compared.status_code == 200, f"comparison failed: {compared.text}")
        comparison = compared.json()
        _print_comparison(comparison)
        check(comparison["challenger"]["model_version"] == challenger_version, "compared another challenger")
        # Captures of the first minutes of the shadow period may predate the reload: not scored by both.
        check(0 < comparison["frauds"] <= comparison["labelled"] <= len(shadow_labels), "nothing labelled to compare")
        check(comparison["challenger"]["roc_auc"] is not None, "no challenger metrics")
        console = httpx.get(f"{stack.url('transactions')}/staff/model/comparison", params=period, timeout=120,
                            headers={"Authorization": f"Bearer {staff.token()}"})
        check(console.status_code == 200 and console.json() == comparison,
              f"the console's comparison differs: {console.status_code} {console.text[:300]}")
        print("   the analyst console's model page shows the same comparison (/staff/model/comparison)")
        summary.update(champion_version=champion_version, challenger_version=challenger_version,
                       comparison=comparison)

        step("promote the challenger while captures flow")
        half = len(final) // 2
        promoted = stream_during(staff, final.iloc[:half], replayed, args.workers,
                                 lambda: fraud(stack, "POST", "/model/promote"))
        check(promoted.status_code == 200, f"promotion refused: {promoted.text}")
        check(promoted.json()["champion"]["model_version"] == challenger_version, "promotion did not take")
        check(not replayed.failures, f"{len(replayed.failures)} captures failed during promotion")
        across = replayed.versions(final.index[:half])
        check(set(across) <= {champion_version, challenger_version}, f"unknown versions {across}")

        step("hot reload (SIGHUP) while captures flow: the promoted model is what the folders hold")

        def hangup() -> None:
            os.kill(stack.processes["fraud"].pid, signal.SIGHUP)
            time.sleep(1.0)

        stream_during(staff, final.iloc[half:], replayed, args.workers, hangup)
        check(not replayed.failures, f"{len(replayed.failures)} captures failed during the reload")
        after = replayed.versions(final.index[half:])
        check(set(after) == {challenger_version}, f"captures after promotion decided by {dict(after)}")

        step("new captures carry the new model version")
        last = replayed.captures[final.index[-1]]
        with httpx.Client(timeout=30) as client:
            stored = staff.call(client, "GET", f"/transactions/{last['id']}", {}).json()
        check(stored["model_version"] == challenger_version, f"stored capture says {stored['model_version']}")
        served = fraud(stack, "GET", "/model").json()
        check(served["model_version"] == challenger_version and served["challenger"] is None, "not promoted")
        print(f"   transaction {last['id']}: {stored['status']}, model {stored['model_version']}")
        summary.update(captures=len(replayed.captures), failed_captures=len(replayed.failures),
                       final_versions={"during_promotion": dict(across), "after": dict(after)},
                       served_model=served["model_version"])
        return summary
    finally:
        stack.stop_all()
        if databases:
            databases()


def _print_comparison(result: dict) -> None:
    print(f"   {result['transactions']:,} scored by both, {result['labelled']:,} labelled, {result['frauds']} frauds")
    for key in ("roc_auc", "average_precision", "precision_at_threshold", "recall_at_threshold", "alert_rate"):
        champion, challenger = result["champion"][key], result["challenger"][key]
        print(f"   {key:24} champion {_fmt(champion):>6}  challenger {_fmt(challenger):>6}")
    print(f"   decisions that would change: {result['decisions_changed']}")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _postgres_databases(server_url: str, stack: LocalStack):
    """Three fresh databases on the server for the stack; returns the function that drops them."""
    from sqlalchemy import create_engine, make_url, text

    admin = create_engine(make_url(server_url).set(drivername="postgresql+psycopg2"), isolation_level="AUTOCOMMIT")
    names = {name: f"loop_{name}_{uuid.uuid4().hex[:8]}" for name in ("auth", "transactions", "fraud")}
    with admin.connect() as conn:
        for db in names.values():
            conn.execute(text(f'CREATE DATABASE "{db}"'))
    for name, db in names.items():
        stack.database_urls[name] = make_url(server_url).set(database=db).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            for db in names.values():
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()

    return drop


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60, help="simulated days (default 60)")
    parser.add_argument("--customers", type=int, default=150)
    parser.add_argument("--terminals", type=int, default=300)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--shadow-days", type=int, default=12, help="days replayed with the challenger in shadow")
    parser.add_argument("--final-days", type=int, default=2, help="days replayed across promotion and reload")
    parser.add_argument("--legit-label-share", type=float, default=0.2,
                        help="share of legitimate transactions labelled (every fraud is)")
    parser.add_argument("--model", default="hybrid", choices=("hybrid", "isolation_forest"),
                        help="challenger kind (train_model.py --model; default hybrid)")
    parser.add_argument("--champion-dir", type=Path, help="champion artifacts (default: a small model trained here)")
    parser.add_argument("--postgres", metavar="URL", help="run the three services on fresh databases of this server")
    parser.add_argument("--workers", type=int, default=4, help="concurrent API clients")
    parser.add_argument("--work-dir", type=Path, help="keep everything here (default: a temporary folder)")
    parser.add_argument("--quick", action="store_true", help="a smaller run: 40 days, 8 in shadow")
    parser.add_argument("--json", type=Path, help="write the summary here")
    args = parser.parse_args(argv)
    if args.quick:
        # Seed 6 at this size: 111 frauds in the training days (a hybrid needs 50), 51 in the shadow period.
        args.days, args.shadow_days = 40, 8
    if args.days < args.shadow_days + args.final_days + 21:
        parser.error("--days must leave at least 21 days of history before the shadow and final days")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="learning-loop-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        summary = run(args, work)
    except LoopFailed as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nthe loop is closed: {summary['captures']:,} captures, {summary['failed_captures']} failed; "
          f"serving {summary['served_model']}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
