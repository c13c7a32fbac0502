"""The history export: what the service recorded comes back as the raw CSV the training CLI reads."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import insert

from app.db.tables import transactions
from app.history_export import export_to_file
from ml_model.dataset import load_transactions_csv
from ml_model.simulate import simulate_transactions
from tests.service_process import SERVICE_DIR

# Days no other test of the session uses, so the export's date range selects this test's rows only.
START = "2024-02-01"


def _replay(client, raw: pd.DataFrame) -> None:
    items = [
        {"transaction_id": row.transaction_id, "customer_id": row.customer_id, "terminal_id": row.terminal_id,
         "amount": float(row.tx_amount), "timestamp": row.tx_datetime.isoformat()}
        for row in raw.itertuples()
    ]
    for first in range(0, len(items), 500):
        response = client.post("/predict/batch", json={"transactions": items[first:first + 500]})
        assert response.status_code == 200, response.text


def _label(client, transaction_id: str, is_fraud: bool) -> None:
    response = client.post("/feedback", json={"transaction_id": transaction_id, "is_fraud": is_fraud})
    assert response.status_code == 200, response.text


def _export(database_url: str, out, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.history_export", "--database-url", database_url,
                           "--out", str(out), *args], cwd=SERVICE_DIR, capture_output=True, text=True, timeout=120)


def test_simulated_history_replayed_through_the_service_exports_back_unchanged(client, service_database_url,
                                                                                 tmp_path):
    raw = simulate_transactions(days=12, customers=30, terminals=40, seed=21, start_date=START)
    raw = raw[["transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount", "tx_fraud"]]
    _replay(client, raw)
    # Labels for part of the history, as analysts and chargebacks send them: every fraud, some
    # legitimate rows, and one label corrected afterwards (the export keeps the latest).
    rng = np.random.default_rng(0)
    sent = raw[(raw["tx_fraud"] == 1) | (rng.random(len(raw)) < 0.1)]
    assert 0 < (sent["tx_fraud"] == 1).sum() < len(sent) < len(raw)
    corrected = sent[sent["tx_fraud"] == 0].iloc[0]
    _label(client, corrected.transaction_id, True)
    for row in sent.itertuples():
        _label(client, row.transaction_id, bool(row.tx_fraud))

    out = tmp_path / "history.csv"
    done = _export(service_database_url, out, "--from", START, "--to", "2024-02-12", "--chunk-rows", "97")
    assert done.returncode == 0, done.stderr
    assert f"{len(raw):,} transactions written" in done.stdout

    exported = load_transactions_csv(out)  # the training CLI's own reader accepts it
    assert list(pd.read_csv(out, nrows=0).columns) == ["transaction_id", "tx_datetime", "customer_id",
                                                         "terminal_id", "tx_amount", "tx_fraud"]
    expected = raw.assign(tx_fraud=np.where(raw["transaction_id"].isin(sent["transaction_id"]),
                                            raw["tx_fraud"].astype(np.float64), np.nan))[exported.columns]
    key = ["tx_datetime", "transaction_id"]
    pd.testing.assert_frame_equal(exported.sort_values(key).reset_index(drop=True),
                                  expected.sort_values(key).reset_index(drop=True), check_dtype=False)


def test_date_range_selects_whole_utc_days(client, service_database_url, tmp_path):
    raw = simulate_transactions(days=5, customers=20, terminals=20, seed=4, start_date="2024-06-01")
    _replay(client, raw)
    out = tmp_path / "days.csv"
    done = _export(service_database_url, out, "--from", "2024-06-02", "--to", "2024-06-03")
    assert done.returncode == 0, done.stderr
    exported = load_transactions_csv(out)
    days = raw["tx_datetime"].dt.strftime("%Y-%m-%d")
    assert set(exported["transaction_id"]) == set(raw.loc[days.isin(["2024-06-02", "2024-06-03"]), "transaction_id"])
    assert exported["tx_fraud"].isna().all()  # nothing labelled: every row unlabelled, none guessed


def test_bad_range_and_unreachable_database_are_clear_errors(tmp_path):
    backwards = _export("sqlite:///unused.sqlite3", tmp_path / "x.csv", "--from", "2024-02-02", "--to", "2024-02-01")
    assert backwards.returncode == 2 and "--from must not be after --to" in backwards.stderr
    missing = _export(f"sqlite:///{tmp_path / 'nothing.sqlite3'}", tmp_path / "y.csv")
    assert missing.returncode == 1 and "cannot read the transactions" in missing.stderr
    assert "Traceback" not in missing.stderr and not (tmp_path / "y.csv").exists()


def test_export_streams_instead_of_loading_every_row(profile_engine, tmp_path):
    n = 100_000
    start = datetime(2024, 1, 1)
    rows = [
        {"transaction_id": f"tx-{i:07d}", "customer_id": f"c{i % 997}", "terminal_id": f"t{i % 401}",
         "amount": 10.0 + i % 90, "timestamp": start + timedelta(seconds=30 * i),
         "is_fraud": None if i % 3 else i % 2 == 0, "recorded_at": start}
        for i in range(n)
    ]
    with profile_engine.begin() as conn:
        conn.execute(insert(transactions), rows)
    del rows

    tracemalloc.start()
    try:
        written = export_to_file(profile_engine, tmp_path / "big.csv", chunk_rows=2_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written == n
    # Every row held at once would take tens of MB (measured ~45 MB for these 100,000 as tuples).
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    exported = load_transactions_csv(tmp_path / "big.csv")
    assert len(exported) == n and exported["tx_fraud"].notna().sum() == len(range(0, n, 3))
