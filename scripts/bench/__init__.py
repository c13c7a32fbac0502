"""Helpers of scripts/benchmark.py: load generation, the reference FastAPI app, seeding, reporting."""
