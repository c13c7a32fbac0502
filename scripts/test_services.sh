#!/usr/bin/env bash
# Smoke test of a running deployment (make run, Compose, or a cluster behind an ingress): checks the
# health and readiness of every service it is given, then runs the demo flow of example_usage.py
# (APPROVED and BLOCKED decisions with reasons). Exits non-zero on the first failure.
set -euo pipefail
usage() {
  cat <<USAGE
Usage: scripts/test_services.sh [--auth-url URL] [--transaction-url URL] [--fraud-url URL]
                                [--staff-username NAME --staff-password PASSWORD]
Defaults: AUTH_URL, TRANSACTION_URL, FRAUD_URL from the environment, else http://127.0.0.1:8000/8001/8002.
--fraud-url none   skips the fraud service's own probes (it is internal behind an ingress).
USAGE
}
auth_url="${AUTH_URL:-http://127.0.0.1:8000}"
transaction_url="${TRANSACTION_URL:-http://127.0.0.1:8001}"
fraud_url="${FRAUD_URL:-http://127.0.0.1:8002}"
staff=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --auth-url) auth_url="$2"; shift 2 ;;
    --transaction-url) transaction_url="$2"; shift 2 ;;
    --fraud-url) fraud_url="$2"; shift 2 ;;
    --staff-username) staff+=(--staff-username "$2"); shift 2 ;;
    --staff-password) staff+=(--staff-password "$2"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="$ROOT/.venv/bin/python"; [[ -x "$PYTHON" ]] || PYTHON=python3

probes=("$auth_url/health/" "$auth_url/ready/" "$transaction_url/health" "$transaction_url/ready")
[[ "$fraud_url" != none ]] && probes+=("$fraud_url/health" "$fraud_url/ready")
"$PYTHON" "$ROOT/scripts/probe.py" --verbose "${probes[@]}"

exec "$PYTHON" "$ROOT/example_usage.py" --auth-url "$auth_url" --transaction-url "$transaction_url" "${staff[@]}"
