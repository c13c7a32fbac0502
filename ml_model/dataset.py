"""Reading and checking raw transaction data (the simulator's schema) from CSV files.

Every problem raises ``DataError`` with one line naming the column, the problem and the first
offending row (CSV line numbers count the header as line 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount")
OPTIONAL_COLUMNS = ("tx_fraud", "tx_fraud_scenario")


class DataError(ValueError):
    """Raw data that cannot be used; the message is one line meant for the person who supplied it."""


def load_transactions_csv(path: Path | str) -> pd.DataFrame:
    """Read and validate a raw CSV (column names in lower or upper case)."""
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty file") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({str(exc).splitlines()[0]})") from None
    try:
        return validate_raw(raw)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None


def validate_raw(raw: pd.DataFrame) -> pd.DataFrame:
    """A clean copy of ``raw``: lower-case column names, naive UTC datetimes, float amounts, tx_fraud
    as 0/1 or NaN (unlabelled), string ids. Raises ``DataError`` on the first problem found."""
    raw = raw.rename(columns=lambda c: str(c).strip().lower())
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"missing column(s): {', '.join(missing)}")
    if raw.empty:
        raise DataError("no transactions (the file has a header but no rows)")
    clean = pd.DataFrame(index=raw.index)

    for column in ("transaction_id", "customer_id", "terminal_id"):
        values = raw[column].astype(str).str.strip()
        _fail_at(values == "", raw, column, "is empty")
        clean[column] = values
    _fail_at(clean["transaction_id"].duplicated(), raw, "transaction_id", "is a duplicate")

    text = raw["tx_datetime"].astype(str).str.strip()
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    _fail_at(parsed.isna(), raw, "tx_datetime", "is not a date-time")
    clean["tx_datetime"] = parsed.dt.tz_localize(None).astype("datetime64[ns]")

    amount = pd.to_numeric(raw["tx_amount"].astype(str).str.strip(), errors="coerce")
    _fail_at(amount.isna() | ~np.isfinite(amount), raw, "tx_amount", "is not a number")
    _fail_at(amount < 0, raw, "tx_amount", "is negative")
    clean["tx_amount"] = amount.astype(np.float64)

    if "tx_fraud" in raw.columns:
        label = raw["tx_fraud"].astype(str).str.strip().str.lower()
        mapped = label.map({"": np.nan, "0": 0.0, "1": 1.0, "0.0": 0.0, "1.0": 1.0, "false": 0.0, "true": 1.0})
        _fail_at(mapped.isna() & (label != ""), raw, "tx_fraud", "is not 0, 1 or empty")
        clean["tx_fraud"] = mapped.astype(np.float64)
    else:
        clean["tx_fraud"] = np.nan
    if "tx_fraud_scenario" in raw.columns:
        clean["tx_fraud_scenario"] = pd.to_numeric(raw["tx_fraud_scenario"], errors="coerce")
    return clean


def _fail_at(bad: pd.Series, raw: pd.DataFrame, column: str, problem: str) -> None:
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        value = raw[column].iloc[position]
        raise DataError(f"line {position + 2}: {column} {value!r} {problem}")
