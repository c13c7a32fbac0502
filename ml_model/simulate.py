"""Payment transaction simulator with labelled fraud scenarios.

Customers live at a point of a 100×100 grid and buy from terminals within ``radius`` of home; each has
a mean amount, a spread and a daily transaction rate. Customers arrive over time, as on a real
platform: a share (``ACTIVE_AT_START``) is already active on the first day, the others join on a day
drawn uniformly over the period and transact only from then on, so first purchases of brand-new
customers appear in the data in their ordinary proportion. Legitimate traffic is drawn in one vectorised
pass (Poisson counts per customer-day, normal times around midday, normal amounts), a share of those
purchases open a shopping session (a few more ordinary purchases at nearby terminals within the hour:
split baskets, a mall visit), then fraud is injected, every scenario with its own id in
``tx_fraud_scenario``:

1. ``HIGH_AMOUNT``: a rare transaction with an amount far above anything a customer normally spends.
2. ``COMPROMISED_TERMINAL``: every day a few terminals are compromised for four weeks; all their
   transactions in that period are fraud (visible to the model only through delayed labels).
3. ``COMPROMISED_CARD``: every day a few cards are compromised for two weeks; a third of the holder's
   transactions in that period have their amount multiplied by five.
4. ``CARD_TESTING``: a stolen card is probed with a burst of small amounts at terminals anywhere,
   within half an hour, before being used.
5. ``NIGHT_TAKEOVER``: a taken-over account spends a few times its usual amount in the small hours.

Deterministic for a seed. Run ``python ml_model/simulate.py --out file.csv`` to write a CSV.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

if __package__ in (None, ""):  # run as a script: make `ml_model` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RAW_COLUMNS = [
    "transaction_id",
    "tx_datetime",
    "customer_id",
    "terminal_id",
    "tx_amount",
    "tx_fraud",
    "tx_fraud_scenario",
]

LEGITIMATE = 0
HIGH_AMOUNT = 1
COMPROMISED_TERMINAL = 2
COMPROMISED_CARD = 3
CARD_TESTING = 4
NIGHT_TAKEOVER = 5
SCENARIO_NAMES = {
    LEGITIMATE: "legitimate",
    HIGH_AMOUNT: "high amount",
    COMPROMISED_TERMINAL: "compromised terminal",
    COMPROMISED_CARD: "compromised card",
    CARD_TESTING: "card testing",
    NIGHT_TAKEOVER: "night-time takeover",
}

SECONDS_PER_DAY = 86_400
HIGH_AMOUNT_PROBABILITY = 0.001
TERMINAL_COMPROMISE_DAYS = 28
CARD_COMPROMISE_DAYS = 14
# Scenario intensities per day, for 10,000 terminals / 5,000 customers (scaled with the population).
COMPROMISED_TERMINALS_PER_DAY = 2.0
COMPROMISED_CARDS_PER_DAY = 3.0
CARD_TESTING_PER_DAY = 1.5
NIGHT_TAKEOVERS_PER_DAY = 1.0
# Legitimate shopping sessions: a purchase opens one with this probability and is followed by 1-4 more
# ordinary purchases at the customer's nearby terminals, gaps exponential (mean 3 minutes), all within
# the hour. About a third of legitimate purchases then have another one by the customer in the previous
# hour, so several purchases within an hour are not, by themselves, card testing.
SESSION_PROBABILITY = 0.10
SESSION_EXTRA_PURCHASES = (1, 4)
SESSION_MEAN_GAP_SECONDS = 180.0
SESSION_MAX_SECONDS = 3_600
# Share of customers already active on the first simulated day; the rest join uniformly over the period
# (a steadily growing customer base: every day brings customers without any history).
ACTIVE_AT_START = 0.7


def simulate_transactions(
    *,
    days: int,
    customers: int,
    terminals: int,
    seed: int,
    start_date: str = "2025-04-01",
    radius: float = 5.0,
) -> pd.DataFrame:
    """Simulated raw transactions (columns ``RAW_COLUMNS``), sorted by time."""
    if days < 1 or customers < 1 or terminals < 1:
        raise ValueError("days, customers and terminals must be positive")
    rng = np.random.default_rng(seed)
    habits = _customer_habits(rng, customers, days)
    terminal_xy = rng.uniform(0, 100, size=(terminals, 2))
    near_offsets, near_counts, near_flat = _terminals_near(habits["xy"], terminal_xy, radius)

    # Legitimate traffic: Poisson counts per customer-day from the customer's first day on, then one
    # row per transaction.
    counts = rng.poisson(np.repeat(habits["tx_per_day"], days).reshape(customers, days))
    counts[np.arange(days)[None, :] < habits["join_day"][:, None]] = 0
    cell = np.repeat(np.arange(customers * days), counts.ravel())
    customer, day = cell // days, cell % days
    n = len(cell)
    seconds = _daytime_seconds(rng, n)
    customer, day, seconds = _with_sessions(rng, customer, day, seconds)
    n = len(customer)
    amount = _habitual_amounts(rng, habits, customer)
    pick = np.floor(rng.random(n) * near_counts[customer]).astype(np.int64)
    terminal = near_flat[near_offsets[customer] + pick]
    scenario = np.zeros(n, dtype=np.int64)

    high = rng.random(n) < HIGH_AMOUNT_PROBABILITY
    amount[high] = rng.uniform(300, 2_500, size=high.sum())
    scenario[high] = HIGH_AMOUNT

    compromised_terminal = _compromise_calendar(
        rng, terminals, days, COMPROMISED_TERMINALS_PER_DAY * terminals / 10_000, TERMINAL_COMPROMISE_DAYS
    )
    hit = (scenario == LEGITIMATE) & compromised_terminal[terminal, day]
    scenario[hit] = COMPROMISED_TERMINAL

    compromised_card = _compromise_calendar(
        rng, customers, days, COMPROMISED_CARDS_PER_DAY * customers / 5_000, CARD_COMPROMISE_DAYS
    )
    hit = (scenario == LEGITIMATE) & compromised_card[customer, day] & (rng.random(n) < 1 / 3)
    amount[hit] *= 5
    scenario[hit] = COMPROMISED_CARD

    legit = pd.DataFrame(
        {"customer": customer, "terminal": terminal, "day": day, "seconds": seconds, "amount": amount,
         "scenario": scenario}
    )
    injected = [
        _card_testing(rng, habits["join_day"], terminals, days),
        _night_takeovers(rng, habits, near_offsets, near_counts, near_flat, days),
    ]
    frame = pd.concat([legit, *injected], ignore_index=True)
    return _to_raw(rng, frame, start_date)


def _customer_habits(rng: np.random.Generator, customers: int, days: int) -> dict[str, np.ndarray]:
    mean_amount = rng.uniform(5, 100, size=customers)
    return {
        "xy": rng.uniform(0, 100, size=(customers, 2)),
        "mean_amount": mean_amount,
        "std_amount": mean_amount / 2,
        "tx_per_day": rng.uniform(0, 4, size=customers),
        "join_day": np.where(rng.random(customers) < ACTIVE_AT_START, 0, rng.integers(0, days, size=customers)),
    }


def _terminals_near(customer_xy, terminal_xy, radius):
    """CSR lists of the terminals within ``radius`` of each customer (the nearest one at least)."""
    tree = cKDTree(terminal_xy)
    near = tree.query_ball_point(customer_xy, r=radius)
    _, nearest = tree.query(customer_xy)
    lists = [sorted(ids) if ids else [int(nearest[i])] for i, ids in enumerate(near)]
    counts = np.fromiter((len(ids) for ids in lists), dtype=np.int64, count=len(lists))
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    flat = np.fromiter((t for ids in lists for t in ids), dtype=np.int64, count=int(counts.sum()))
    return offsets, counts, flat


def _daytime_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Times of day around midday (normal, sd 20,000 s), redrawn until inside the day."""
    seconds = rng.normal(SECONDS_PER_DAY / 2, 20_000, size=n)
    outside = (seconds < 0) | (seconds >= SECONDS_PER_DAY)
    while outside.any():
        seconds[outside] = rng.normal(SECONDS_PER_DAY / 2, 20_000, size=outside.sum())
        outside = (seconds < 0) | (seconds >= SECONDS_PER_DAY)
    return np.floor(seconds)


def _with_sessions(rng, customer: np.ndarray, day: np.ndarray, seconds: np.ndarray):
    """Adds the follow-up purchases of shopping sessions (same customer and day, within the hour after
    the opening purchase; those that would cross midnight are dropped)."""
    opener = np.flatnonzero(rng.random(len(customer)) < SESSION_PROBABILITY)
    if not len(opener):
        return customer, day, seconds
    low, high = SESSION_EXTRA_PURCHASES
    sizes = rng.integers(low, high + 1, size=len(opener))
    follow = np.repeat(opener, sizes)
    session_start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    gaps = np.maximum(np.floor(rng.exponential(SESSION_MEAN_GAP_SECONDS, size=len(follow))), 1)
    cumulative = np.cumsum(gaps)
    offset = cumulative - np.repeat(cumulative[session_start] - gaps[session_start], sizes)
    follow_seconds = seconds[follow] + offset
    keep = (offset < SESSION_MAX_SECONDS) & (follow_seconds < SECONDS_PER_DAY)
    return (
        np.concatenate([customer, customer[follow][keep]]),
        np.concatenate([day, day[follow][keep]]),
        np.concatenate([seconds, follow_seconds[keep]]),
    )


def _habitual_amounts(rng, habits, customer: np.ndarray) -> np.ndarray:
    """Normal around the customer's mean; non-positive draws redrawn uniform in (0, 2·mean)."""
    mean, std = habits["mean_amount"][customer], habits["std_amount"][customer]
    amount = rng.normal(mean, std)
    negative = amount <= 0
    amount[negative] = rng.uniform(0, 2 * mean[negative])
    return amount


def _compromise_calendar(rng, entities: int, days: int, per_day: float, duration: int) -> np.ndarray:
    """Boolean [entity, day]: compromised on that day (fresh victims drawn every day)."""
    calendar = np.zeros((entities, days), dtype=bool)
    for start in range(days):
        victims = rng.choice(entities, size=min(entities, rng.poisson(per_day)), replace=False)
        calendar[victims, start : start + duration] = True
    return calendar


def _card_testing(rng, join_day: np.ndarray, terminals: int, days: int) -> pd.DataFrame:
    """Bursts of 4-12 small amounts (0.5-3.0) within 30 minutes at random terminals."""
    customers = len(join_day)
    events = rng.poisson(CARD_TESTING_PER_DAY * customers / 5_000 * days)
    sizes = rng.integers(4, 13, size=events)
    event = np.repeat(np.arange(events), sizes)
    start = rng.uniform(0, SECONDS_PER_DAY - 1_800, size=events)
    customer = rng.integers(0, customers, size=events)
    return pd.DataFrame(
        {
            "customer": customer[event],
            "terminal": rng.integers(0, terminals, size=len(event)),
            "day": _day_after_joining(rng, join_day[customer], days)[event],
            "seconds": np.floor(start[event] + rng.uniform(0, 1_800, size=len(event))),
            "amount": rng.uniform(0.5, 3.0, size=len(event)),
            "scenario": CARD_TESTING,
        }
    )


def _night_takeovers(rng, habits, near_offsets, near_counts, near_flat, days: int) -> pd.DataFrame:
    """2-4 purchases between 01:00 and 05:00 at 2-4× the customer's mean amount, near home."""
    customers = len(habits["mean_amount"])
    events = rng.poisson(NIGHT_TAKEOVERS_PER_DAY * customers / 5_000 * days)
    sizes = rng.integers(2, 5, size=events)
    event = np.repeat(np.arange(events), sizes)
    victim = rng.integers(0, customers, size=events)
    customer = victim[event]
    pick = np.floor(rng.random(len(event)) * near_counts[customer]).astype(np.int64)
    return pd.DataFrame(
        {
            "customer": customer,
            "terminal": near_flat[near_offsets[customer] + pick],
            "day": _day_after_joining(rng, habits["join_day"][victim], days)[event],
            "seconds": np.floor(rng.uniform(3_600, 5 * 3_600, size=len(event))),
            "amount": habits["mean_amount"][customer] * rng.uniform(2, 4, size=len(event)),
            "scenario": NIGHT_TAKEOVER,
        }
    )


def _day_after_joining(rng, join_day: np.ndarray, days: int) -> np.ndarray:
    """A uniform day in [join_day, days) for each entry: a card is attacked only once it exists."""
    return join_day + np.floor(rng.random(len(join_day)) * (days - join_day)).astype(np.int64)


def _to_raw(rng: np.random.Generator, frame: pd.DataFrame, start_date: str) -> pd.DataFrame:
    frame = frame.sort_values(["day", "seconds"], kind="stable", ignore_index=True)
    n = len(frame)
    start = np.datetime64(pd.Timestamp(start_date).normalize().to_datetime64(), "s")
    offset = frame["day"].to_numpy() * SECONDS_PER_DAY + frame["seconds"].to_numpy().astype(np.int64)
    id_bytes = rng.bytes(16 * n)
    customer_ids = np.array([f"C{i:05d}" for i in range(frame["customer"].max() + 1)], dtype=object)
    terminal_ids = np.array([f"T{i:05d}" for i in range(frame["terminal"].max() + 1)], dtype=object)
    scenario = frame["scenario"].to_numpy()
    return pd.DataFrame(
        {
            "transaction_id": [str(uuid.UUID(bytes=id_bytes[i : i + 16], version=4)) for i in range(0, 16 * n, 16)],
            "tx_datetime": (start + offset.astype("timedelta64[s]")).astype("datetime64[ns]"),
            "customer_id": customer_ids[frame["customer"].to_numpy()],
            "terminal_id": terminal_ids[frame["terminal"].to_numpy()],
            "tx_amount": np.round(frame["amount"].to_numpy(), 2),
            "tx_fraud": (scenario != LEGITIMATE).astype(np.int64),
            "tx_fraud_scenario": scenario,
        },
        columns=RAW_COLUMNS,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Simulate labelled payment transactions into a CSV file.")
    parser.add_argument("--out", required=True, type=Path, help="CSV file to write")
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start-date", default="2025-04-01")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    raw = simulate_transactions(
        days=args.days, customers=args.customers, terminals=args.terminals, seed=args.seed,
        start_date=args.start_date,
    )
    raw.to_csv(args.out, index=False)
    rates = raw.groupby("tx_fraud_scenario").size().rename(index=SCENARIO_NAMES)
    print(f"{len(raw):,} transactions ({raw['tx_fraud'].mean():.2%} fraud) written to {args.out} "
          f"in {time.perf_counter() - began:.1f}s")
    print(rates.to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
