#!/usr/bin/env bash
# Starts the auth service: migrate (which also creates the throttle cache table), collect the admin's
# static files on first start, then exec gunicorn so that signals reach it. Runs from any working
# directory; uses `python` from PATH. Requests are logged by the app, one line each.
# Environment: HOST (0.0.0.0), PORT (8000), WORKERS (2), plus the settings in CONVENTIONS.md.
set -euo pipefail
cd "$(dirname "$0")"

python manage.py migrate --noinput
# Into ./staticfiles (git-ignored). Images collect them at build time and cannot write here; a local
# checkout collects once (delete staticfiles/ after upgrading Django to collect again).
if [[ ! -f staticfiles/staticfiles.json && -w . ]]; then
  python manage.py collectstatic --noinput -v0
fi

# /metrics sums every worker's samples, which each worker writes into this folder (emptied at each start).
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-${TMPDIR:-/tmp}/auth-service-metrics-${PORT:-8000}}"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p -m 700 "$PROMETHEUS_MULTIPROC_DIR"

exec python -m gunicorn auth_service.wsgi:application \
  --config gunicorn.conf.py \
  --bind "${HOST:-0.0.0.0}:${PORT:-8000}" \
  --workers "${WORKERS:-2}"
