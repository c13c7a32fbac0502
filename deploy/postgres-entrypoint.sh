#!/bin/bash
# Entrypoint of the Compose `postgres` service: POSTGRES_PASSWORD_FILE read here, then the image's own
# entrypoint. The official image reads that variable itself; doing it here too keeps the stack working
# on postgres:15 builds whose entrypoint honours only POSTGRES_PASSWORD (the variable is unset after, so
# the official entrypoint does not see both).
set -euo pipefail
if [[ -n "${POSTGRES_PASSWORD_FILE:-}" && -z "${POSTGRES_PASSWORD:-}" ]]; then
  POSTGRES_PASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"
  export POSTGRES_PASSWORD
  unset POSTGRES_PASSWORD_FILE
fi
exec docker-entrypoint.sh "$@"
