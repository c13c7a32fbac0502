#!/usr/bin/env bash
# Trains the Isolation Forest with ml_model/train_model.py and writes the artifacts to MODEL_DIR
# (default ml_model/models). Every option is passed to the training CLI; see its --help for them all.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="$ROOT/.venv/bin/python"; [[ -x "$PYTHON" ]] || PYTHON=python3
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,3p' "$0"
  echo "Usage: scripts/train_model.sh [train_model.py options]   e.g. --days 90 --seed 1 | --data history.csv"
  echo; exec "$PYTHON" "$ROOT/ml_model/train_model.py" --help
fi
cd "$ROOT"
exec "$PYTHON" ml_model/train_model.py --output-dir "${MODEL_DIR:-ml_model/models}" "$@"
