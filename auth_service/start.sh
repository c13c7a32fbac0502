#!/usr/bin/env bash
# Starts the auth service: migrate, create the throttle cache table, collect admin static files, then
# exec gunicorn so that signals reach it (requests are logged by the app, one line each). Runs from any working directory; uses `python` from PATH.
# Environment: HOST (0.0.0.0), PORT (8000), WORKERS (2), plus the settings in CONVENTIONS.md.
set -euo pipefail
cd "$(dirname "$0")"

python manage.py migrate --noinput
python manage.py createcachetable
# Into ./staticfiles (git-ignored); skipped when the folder is read-only (image built with it already).
if [[ -w . ]] || [[ -w staticfiles ]]; then
  python manage.py collectstatic --noinput -v0
fi

exec python -m gunicorn auth_service.wsgi:application \
  --bind "${HOST:-0.0.0.0}:${PORT:-8000}" \
  --workers "${WORKERS:-2}"
