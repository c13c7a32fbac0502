#!/usr/bin/env bash
# Runs example_usage.py against the local stack, starting the stack first if it is not answering and
# stopping it afterwards (only what this script started). `make demo` calls this.
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
  sed -n '2,3p' "$0"; echo "Usage: scripts/demo.sh [example_usage.py options]"; exit 0
fi
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
load_local_env

up() { python "$ROOT/scripts/probe.py" "$@"; }
urls=("$AUTH_URL/ready/" "$TRANSACTION_URL/ready" "$FRAUD_URL/ready")

started=""
if ! up "${urls[@]}"; then
  mkdir -p "$DATA_DIR"
  echo "Starting the local stack (log: $DATA_DIR/demo-stack.log)..."
  setsid scripts/run_local.sh >"$DATA_DIR/demo-stack.log" 2>&1 &
  started=$!
  trap 'kill -TERM -- -$started 2>/dev/null || true; wait $started 2>/dev/null || true' EXIT
  for _ in $(seq 120); do up "${urls[@]}" && break; sleep 1; done
  up "${urls[@]}" || { echo "The stack did not become ready; see $DATA_DIR/demo-stack.log" >&2; exit 1; }
fi

# The staff password through the environment (example_usage.py reads STAFF_PASSWORD), not the command line.
STAFF_PASSWORD="$LOCAL_STAFF_PASSWORD" python example_usage.py --auth-url "$AUTH_URL" \
  --transaction-url "$TRANSACTION_URL" --staff-username "$LOCAL_STAFF_USERNAME" "$@"
