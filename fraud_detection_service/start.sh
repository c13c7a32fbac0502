#!/usr/bin/env bash
# Migrate the fraud service's database, then serve it (exec, so signals reach uvicorn).
# Runs from any working directory; HOST, PORT and WORKERS as in CONVENTIONS.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
# ml_model is imported from the repository root (or /app in the image, where it sits beside app/).
export PYTHONPATH="$(dirname "$here")${PYTHONPATH:+:$PYTHONPATH}"
source "$(dirname "$here")/fastapi_plumbing/workers.sh" fraud-service 8002
python -m alembic -c "$here/alembic.ini" upgrade head
exec python -m uvicorn main:app --host "${HOST:-0.0.0.0}" --port "${PORT:-8002}" \
  --workers "${WORKERS:-1}" "${UVICORN_FLAGS[@]}"
