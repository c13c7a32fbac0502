"""The shape both growth seeders give their tables (seed_transactions.py, seed_fraud.py), written once.

The seeders stay separate processes (both services' packages are named ``app``); each imports this module
from its own folder. The same made-up customers and terminals, over the same year, with the same share of
BLOCKED decisions, so the two services' tables describe the same traffic.
"""

SEED_VERSION = "bench-seed"  # model_version of every seeded row: a shrink deletes these and no other
CUSTOMERS = 50_000  # seed-<n>
TERMINALS = 10_000  # T-<nnnnn>: the benchmark's captures use terminals among them
DAYS = 365  # rows are spread over the past year
BLOCKED_SHARE = 0.012
