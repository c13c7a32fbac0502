#!/usr/bin/env bash
# Exports the fraud service's recorded transactions and their latest labels as the raw CSV that
# ml_model/train_model.py --data reads. Reads DATABASE_URL (default: SQLite in DATA_DIR); see --help.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="$ROOT/.venv/bin/python"; [[ -x "$PYTHON" ]] || PYTHON=python3
# Relative --out paths are meant from the caller's folder, not the service folder the module runs in.
args=()
while (($#)); do
  case "$1" in
    --out) args+=("$1" "$(realpath -m "$2")"); shift 2 ;;
    --out=*) args+=("--out=$(realpath -m "${1#--out=}")"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done
cd "$ROOT/fraud_detection_service"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m app.history_export "${args[@]}"
