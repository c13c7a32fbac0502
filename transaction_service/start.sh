#!/usr/bin/env bash
# Migrate the transaction database, then serve on HOST:PORT (default 0.0.0.0:8001) with WORKERS workers.
set -euo pipefail
cd "$(dirname "$0")"
source ../fastapi_plumbing/workers.sh transaction-service 8001
python -m alembic -c alembic.ini upgrade head
exec python -m uvicorn main:app --host "${HOST:-0.0.0.0}" --port "${PORT:-8001}" \
  --workers "${WORKERS:-1}" "${UVICORN_FLAGS[@]}"
