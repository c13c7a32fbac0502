"""Prometheus metrics of the fraud service (exposed at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
FEEDBACK = Counter("fraud_feedback_total", "Confirmed labels received", ["is_fraud"])
MODEL_INFO = Gauge("fraud_model_info", "The loaded model (value 1)", ["version", "sklearn_version"])
CHALLENGER_INFO = Gauge("fraud_challenger_info", "The challenger scored in shadow (value 1; absent without one)",
                        ["version"])
SHADOW_DECISIONS = Counter("fraud_shadow_decisions_total",
                           "Challenger decisions in shadow, and whether they differ from the champion's",
                           ["decision", "differs"])
MODEL_SWAPS = Counter("fraud_model_swaps_total", "Hot reloads and promotions by outcome", ["action", "outcome"])
