#!/usr/bin/env bash
# Starts the three services on the embedded defaults (SQLite under DATA_DIR), supervised by honcho:
# interleaved, prefixed logs; Ctrl-C stops all three. `make run` calls this after install and train.
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
  sed -n '2,3p' "$0"; echo "Usage: scripts/run_local.sh   (environment: AUTH_PORT, TRANSACTION_PORT, FRAUD_PORT, and every service variable)"; exit 0
fi
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
umask 077  # what the stack writes (databases, keys, logs) is the owner's only
load_local_env
export HOST="${HOST:-127.0.0.1}"

# Migrate and create the local analyst (staff) account before the servers start, so the demo can label.
python auth_service/manage.py migrate --noinput >/dev/null
# The password goes through the environment: a command line is visible to every user (ps).
STAFF_PASSWORD="$LOCAL_STAFF_PASSWORD" python auth_service/manage.py ensure_staff_user \
  --username "$LOCAL_STAFF_USERNAME" --email "$LOCAL_STAFF_USERNAME@localhost" >/dev/null

echo "detec_fraude is starting (data: $DATA_DIR, model: ${MODEL_DIR:-ml_model/models})"
printf '  %-20s %-24s %s\n' \
  "auth service" "$AUTH_URL" "API docs $AUTH_URL/api/docs/   admin $AUTH_URL/admin/   metrics $AUTH_URL/metrics" \
  "transaction service" "$TRANSACTION_URL" "API docs $TRANSACTION_URL/docs   metrics $TRANSACTION_URL/metrics" \
  "fraud service" "$FRAUD_URL" "API docs $FRAUD_URL/docs   model $FRAUD_URL/model   metrics $FRAUD_URL/metrics"
echo "  staff login (admin, labelling): $LOCAL_STAFF_USERNAME / password in $DATA_DIR/local.env"
echo "In another terminal: python example_usage.py   (or: make demo).  Ctrl-C stops everything."
# -e /dev/null: honcho would otherwise read a .env file (Compose's) and let it override this environment.
exec honcho start -f "$ROOT/Procfile" -d "$ROOT" -e /dev/null
