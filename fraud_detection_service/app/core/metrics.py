"""Prometheus metrics of the fraud service (exposed at /metrics; with several workers, summed over them:
fastapi_plumbing/metrics.py)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Each worker counts 1 while it lives (imported once per worker): how many /metrics is summed over.
WORKERS = Gauge("fraud_workers", "Worker processes serving", multiprocess_mode="livesum")
WORKERS.set(1)

REQUESTS = Counter(
    "fraud_http_requests_total", "HTTP requests by route template and status", ["method", "route", "status"]
)
LATENCY = Histogram(
    "fraud_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
DECISIONS = Counter("fraud_decisions_total", "Model decisions by outcome", ["decision"])
# /predict answers before recording (app/services/recorder.py): a record that failed after its answer was sent.
RECORDS_FAILED = Counter("fraud_records_failed_total", "Transactions answered by /predict whose record failed")
FEEDBACK = Counter("fraud_feedback_total", "Confirmed labels received", ["is_fraud"])
# Summed over the live workers: the value is how many serve that model, so a reload that has not reached
# every worker yet shows as two versions (a version no longer served stays at 0 until the next start).
MODEL_INFO = Gauge("fraud_model_info", "The loaded model: how many workers serve it",
                   ["version", "sklearn_version"], multiprocess_mode="livesum")
CHALLENGER_INFO = Gauge("fraud_challenger_info", "The challenger scored in shadow: how many workers score it "
                        "(absent, or 0, without one)", ["version"], multiprocess_mode="livesum")
SHADOW_DECISIONS = Counter("fraud_shadow_decisions_total",
                           "Challenger decisions in shadow, and whether they differ from the champion's",
                           ["decision", "differs"])
MODEL_SWAPS = Counter("fraud_model_swaps_total", "Hot reloads and promotions by outcome", ["action", "outcome"])
