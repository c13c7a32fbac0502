"""Prometheus metrics exposed at /metrics (with several workers, summed over them: fastapi_plumbing/metrics.py)."""

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "transaction_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "transaction_http_request_duration_seconds", "HTTP request latency", ["method", "route"]
)
DECISIONS = Counter(
    "transaction_decisions_total", "Transactions decided", ["status", "decided_by"]
)
FRAUD_SERVICE_ERRORS = Counter(
    "transaction_fraud_service_errors_total", "Failed calls to the fraud service", ["reason"]
)
# Transactions per scoring call (1: /predict, more: /predict/batch): _count is the calls, _sum the transactions.
FRAUD_CALL_ROWS = Histogram(
    "transaction_fraud_call_transactions", "Transactions scored per call to the fraud service",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
FEEDBACK_DELIVERED = Counter(
    "transaction_feedback_delivered_total", "Labels accepted by the fraud service"
)
# Each worker counts 1 while it lives (imported once per worker): how many /metrics is summed over.
WORKERS = Gauge("transaction_workers", "Worker processes serving", multiprocess_mode="livesum")
WORKERS.set(1)
