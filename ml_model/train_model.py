"""Train the fraud model: ``python ml_model/train_model.py [options]`` (or ``python -m ml_model.train_model``).

``--model isolation_forest`` (default) is unsupervised; ``--model hybrid`` adds a gradient-boosted
classifier learnt from the labelled rows, and needs at least 50 frauds among them (else exit 2).
Data comes from the simulator (``--days/--customers/--terminals/--seed``) or a CSV in the raw schema
(``--data``). Writes the artifact folder (``--output-dir``), a report with plots and a model card
(``--report-dir``) and optionally the evaluation scores (``--scores-out``). Bad data stops with a
one-line message and exit code 2, before anything is written.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `ml_model` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tqdm import tqdm  # noqa: E402

from ml_model.artifacts import ISOLATION_FOREST, MODEL_KINDS, load_verified  # noqa: E402
from ml_model.dataset import DataError, load_transactions_csv  # noqa: E402
from ml_model.features import DEFAULT_LABEL_DELAY_DAYS  # noqa: E402
from ml_model.reasons import worked_example  # noqa: E402
from ml_model.report import summary_lines, write_report  # noqa: E402
from ml_model.simulate import simulate_transactions  # noqa: E402
from ml_model.training import DEFAULT_ALERT_RATE, Periods, default_periods, save, train  # noqa: E402

PACKAGE_DIR = Path(__file__).resolve().parent
EXIT_BAD_DATA = 2
EXIT_WRITE_FAILED = 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data = parser.add_argument_group("data")
    data.add_argument("--data", type=Path, help="CSV of raw transactions (otherwise simulated)")
    data.add_argument("--days", type=int, default=120, help="simulated days (default 120)")
    data.add_argument("--customers", type=int, default=5_000, help="simulated customers (default 5000)")
    data.add_argument("--terminals", type=int, default=10_000, help="simulated terminals (default 10000)")
    data.add_argument("--seed", type=int, default=42, help="simulation and model seed (default 42)")
    split = parser.add_argument_group("periods (dates, inclusive; default: time-ordered split)")
    for name in ("train-from", "train-to", "eval-from", "eval-to"):
        split.add_argument(f"--{name}", type=date.fromisoformat, metavar="YYYY-MM-DD")
    model = parser.add_argument_group("model")
    model.add_argument("--model", choices=MODEL_KINDS, default=ISOLATION_FOREST,
                       help="isolation_forest (default, unsupervised) or hybrid (a classifier on the labelled "
                            "rows, the forest's anomaly score one of its inputs; needs >= 50 labelled frauds)")
    model.add_argument("--label-delay-days", type=int, default=DEFAULT_LABEL_DELAY_DAYS,
                       help="days before a fraud label is known (default 7)")
    model.add_argument("--alert-rate", type=float, default=DEFAULT_ALERT_RATE,
                       help="share of training transactions above the threshold (default 0.01)")
    out = parser.add_argument_group("output")
    out.add_argument("--output-dir", type=Path, default=PACKAGE_DIR / "models")
    out.add_argument("--report-dir", type=Path, default=PACKAGE_DIR / "reports",
                     help="plots and model card (default ml_model/reports)")
    out.add_argument("--scores-out", type=Path, help="CSV: transaction_id,risk_score,decision per evaluation row")
    args = parser.parse_args(argv)
    if not 0 < args.alert_rate < 1:
        parser.error("--alert-rate must be between 0 and 1")
    if args.label_delay_days < 0:
        parser.error("--label-delay-days must be >= 0")
    if min(args.days, args.customers, args.terminals) < 1:
        parser.error("--days, --customers and --terminals must be positive")
    return args


def resolve_periods(args: argparse.Namespace, raw) -> Periods:
    days = raw["tx_datetime"].dt.floor("D").dt.date
    default = default_periods(days.min(), days.max(), args.label_delay_days)
    eval_from = args.eval_from or default.eval_from
    # Without --train-to, training stops a label delay before evaluation starts.
    train_to = args.train_to or min(default.train_to, eval_from - timedelta(days=args.label_delay_days + 1))
    return Periods(
        train_from=args.train_from or default.train_from,
        train_to=train_to,
        eval_from=eval_from,
        eval_to=args.eval_to or default.eval_to,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    steps = tqdm(total=4, desc="training", unit="step", file=sys.stderr, dynamic_ncols=True)
    try:
        if args.data:
            steps.set_postfix_str(f"reading {args.data}")
            raw = load_transactions_csv(args.data)
            source = {"file": str(args.data)}
        else:
            steps.set_postfix_str("simulating")
            raw = simulate_transactions(days=args.days, customers=args.customers, terminals=args.terminals,
                                        seed=args.seed)
            source = {"simulated": {"days": args.days, "customers": args.customers,
                                    "terminals": args.terminals, "seed": args.seed}}
        steps.update()
        result = train(raw, kind=args.model, label_delay_days=args.label_delay_days, periods=resolve_periods(args, raw),
                       alert_rate=args.alert_rate, seed=args.seed,
                       progress=lambda message: (steps.set_postfix_str(message), steps.refresh()))
        steps.update()
    except DataError as exc:
        steps.close()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_DATA

    try:
        metadata = save(result, args.output_dir, source=source)
        steps.update()
        if args.scores_out:
            result.evaluation[["transaction_id", "risk_score", "decision"]].to_csv(args.scores_out, index=False)
        loaded = load_verified(args.output_dir)
        examples = {f"{hour:02d}:07": worked_example(loaded, datetime(2025, 9, 3, hour, 7)) for hour in (2, 14)}
        written = write_report(args.report_dir, metadata, result.evaluation, examples)
        steps.update()
    except OSError as exc:  # unwritable output folder, full disk: say which file, no traceback
        steps.close()
        print(f"error: cannot write {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_WRITE_FAILED
    steps.close()

    print("\n".join(summary_lines(metadata)))
    print(f"artifacts: {args.output_dir}  report: {written[-1]}"
          + (f"  scores: {args.scores_out}" if args.scores_out else ""))
    print(f"done in {time.perf_counter() - began:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
