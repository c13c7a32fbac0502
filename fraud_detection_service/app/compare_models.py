"""Champion against challenger from the command line, on the service's database (DATABASE_URL):

    cd fraud_detection_service && python -m app.compare_models --from 2026-11-01 --to 2026-11-30

Same numbers as ``GET /model/comparison`` (app/services/comparison.py). Exit 2 when nothing can be compared.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from app.core.config import settings
from app.db.engine import make_engine
from app.services.comparison import busiest_challenger, compare

ROWS = (("ROC AUC", "roc_auc"), ("average precision", "average_precision"),
        ("precision at threshold", "precision_at_threshold"), ("recall at threshold", "recall_at_threshold"),
        ("alert rate", "alert_rate"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compare the champion with the challenger scored in shadow.")
    parser.add_argument("--from", dest="first", type=date.fromisoformat, required=True, metavar="YYYY-MM-DD")
    parser.add_argument("--to", dest="last", type=date.fromisoformat, required=True, metavar="YYYY-MM-DD")
    parser.add_argument("--challenger-version", help="default: the one that scored most in the period")
    parser.add_argument("--database-url", default=settings.database_url, help="default: DATABASE_URL")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    args = parser.parse_args(argv)
    if args.first > args.last:
        parser.error("--from must not be after --to")
    db = make_engine(args.database_url)
    try:
        version = args.challenger_version or busiest_challenger(db, args.first, args.last)
        if version is None:
            print(f"error: no challenger scored any transaction from {args.first} to {args.last}", file=sys.stderr)
            return 2
        result = compare(db, args.first, args.last, version)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    champion, challenger = result["champion"], result["challenger"]
    print(f"{result['period']['from']} .. {result['period']['to']}: {result['transactions']:,} transactions "
          f"scored by both, {result['labelled']:,} labelled, {result['frauds']:,} frauds")
    print(f"{'':<24}{'champion':>14}{'challenger':>14}")
    print(f"{'model':<24}{','.join(champion['model_versions']):>14}{challenger['model_version']:>14}")
    for title, key in ROWS:
        print(f"{title:<24}{_fmt(champion[key]):>14}{_fmt(challenger[key]):>14}")
    changed = result["decisions_changed"]
    print(f"decisions that would change: {changed['total']:,} ({changed['approved_to_blocked']:,} approved -> "
          f"blocked, {changed['blocked_to_approved']:,} blocked -> approved; frauds newly blocked "
          f"{changed['frauds_newly_blocked']:,}, newly approved {changed['frauds_newly_approved']:,})")
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    raise SystemExit(main())
