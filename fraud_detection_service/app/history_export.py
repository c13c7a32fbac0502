"""Export the recorded transactions with their latest labels, for retraining.

``python -m app.history_export --out history.csv [--from YYYY-MM-DD] [--to YYYY-MM-DD]`` (from this
folder, or ``scripts/export_history.sh`` from the repository root) writes the raw CSV schema that
``ml_model/train_model.py --data`` reads: ``transaction_id, tx_datetime, customer_id, terminal_id,
tx_amount, tx_fraud`` with ``tx_fraud`` 1, 0 or empty (never labelled). The database is this service's
(``DATABASE_URL``, SQLite under ``DATA_DIR`` by default, or ``--database-url``).

Rows are streamed: a server-side cursor on PostgreSQL, the driver's lazy cursor on SQLite, written in
chunks of ``--chunk-rows``, so a million transactions never sit in memory at once. The file is written
beside its destination and renamed into place, so a failed export leaves no half-written CSV.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine, select

from app.db.tables import transactions

COLUMNS = ("transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount", "tx_fraud")
CHUNK_ROWS = 10_000
_LABEL = {True: "1", False: "0", None: ""}


def export_history(engine: Engine, out: TextIO, *, date_from: date | None = None, date_to: date | None = None,
                   chunk_rows: int = CHUNK_ROWS) -> int:
    """Write the header and every transaction whose UTC day is within [date_from, date_to] (either bound
    optional) to ``out``, in time order; returns the number of rows written."""
    t = transactions.c
    query = select(t.transaction_id, t.timestamp, t.customer_id, t.terminal_id, t.amount, t.is_fraud)
    if date_from is not None:
        query = query.where(t.timestamp >= datetime.combine(date_from, time()))
    if date_to is not None:
        query = query.where(t.timestamp < datetime.combine(date_to + timedelta(days=1), time()))
    query = query.order_by(t.timestamp, t.transaction_id)

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    written = 0
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(query)
        for chunk in result.partitions():
            writer.writerows(
                (tx_id, timestamp.isoformat(sep=" "), customer, terminal, repr(float(amount)), _LABEL[is_fraud])
                for tx_id, timestamp, customer, terminal, amount, is_fraud in chunk
            )
            written += len(chunk)
    return written


def export_to_file(engine: Engine, path: Path, **options) -> int:
    """``export_history`` into ``path``, all or nothing (temporary sibling file, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as out:
            written = export_history(engine, out, **options)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write (replaced when complete)")
    parser.add_argument("--from", dest="date_from", type=date.fromisoformat, metavar="YYYY-MM-DD",
                        help="first UTC day to export (default: the first recorded)")
    parser.add_argument("--to", dest="date_to", type=date.fromisoformat, metavar="YYYY-MM-DD",
                        help="last UTC day to export, inclusive (default: the last recorded)")
    parser.add_argument("--database-url", help="default: this service's DATABASE_URL (or SQLite in DATA_DIR)")
    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, help=f"rows per fetch (default {CHUNK_ROWS})")
    args = parser.parse_args(argv)
    if args.date_from and args.date_to and args.date_from > args.date_to:
        parser.error("--from must not be after --to")
    if args.chunk_rows < 1:
        parser.error("--chunk-rows must be positive")

    from sqlalchemy.exc import SQLAlchemyError

    from app.db.engine import make_engine

    if args.database_url:
        url = args.database_url.replace("postgres://", "postgresql://", 1)
    else:
        from app.core.config import settings

        url = settings.database_url
    engine = make_engine(url)
    try:
        written = export_to_file(engine, args.out, date_from=args.date_from, date_to=args.date_to,
                                 chunk_rows=args.chunk_rows)
    except SQLAlchemyError as exc:
        print(f"error: cannot read the transactions from {engine.url!r}: {str(exc).splitlines()[0]}",
              file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write {exc.filename or args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"{written:,} transactions written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
