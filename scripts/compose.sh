#!/usr/bin/env bash
# Runs the platform with Docker Compose (docker-compose.yml) and smoke-tests it.
set -euo pipefail
usage() {
  cat <<USAGE
Usage: scripts/compose.sh COMMAND [--keep]

  env    create .env from .env.example with random secrets, and the JWT signing key, when missing
  up     env + train the model when needed + docker compose up --build -d, wait until every service is
         healthy, create the staff account (STAFF_USERNAME/STAFF_PASSWORD from .env), print the URLs
  down   docker compose down -v (removes the containers and the database volume)
  test   the offline Docker helper when present, up, scripts/test_services.sh against the stack
         (APPROVED and BLOCKED), restart the transaction service and check that its transactions are
         still there, then down (also on failure; --keep leaves the stack running to investigate)

Environment: ENV_FILE (default .env), DOCKER_OFFLINE_HELPER (default ../shared/tools/docker-offline.sh),
WAIT_TIMEOUT seconds for health (default 300).
USAGE
}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
command="${1:-}"; shift || true
keep=0
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $arg" >&2; usage >&2; exit 2 ;;
  esac
done
ENV_FILE="${ENV_FILE:-$ROOT/.env}"
WAIT_TIMEOUT="${WAIT_TIMEOUT:-300}"
PYTHON="$ROOT/.venv/bin/python"; [[ -x "$PYTHON" ]] || PYTHON=python3
compose() {
  if ! docker compose version >/dev/null 2>&1; then
    echo "docker compose is not available: install Docker and its Compose v2 plugin" \
      "(offline: ../shared/tools/docker-offline.sh)" >&2
    exit 1
  fi
  # `down` must work before .env exists (nothing to tear down then, but no error either).
  local env_args=(); [[ -f "$ENV_FILE" ]] && env_args=(--env-file "$ENV_FILE")
  docker compose --project-directory "$ROOT" "${env_args[@]}" "$@"
}
env_value() { sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1; }
log() { printf '\n== %s\n' "$*"; }

ensure_env() {
  "$PYTHON" scripts/compose_env.py --env-file "$ENV_FILE" --example "$ROOT/.env.example"
}

up() {
  ensure_env
  # The fraud image bakes in the trained artifacts; `make train` is a no-op when they are up to date.
  make --no-print-directory train
  local version commit
  version="$(git describe --tags --abbrev=0 2>/dev/null || echo 0.1.0)"
  commit="$(git rev-parse --short=12 HEAD)"
  export IMAGE_TAG="$version-$commit" GIT_COMMIT="$commit"
  log "docker compose up --build -d (images tagged $IMAGE_TAG)"
  compose up --build -d --wait --wait-timeout "$WAIT_TIMEOUT" || { compose ps; compose logs --tail 50; return 1; }
  compose ps
  log "staff account $(env_value STAFF_USERNAME)"
  # The password on stdin (printf is a shell builtin): a command line is visible to every user (ps).
  printf '%s\n' "$(env_value STAFF_PASSWORD)" | compose exec -T auth-service python manage.py ensure_staff_user \
    --username "$(env_value STAFF_USERNAME)" --email "$(env_value STAFF_USERNAME)@localhost" --password-stdin >/dev/null
  cat <<URLS
detec_fraude is up (docker compose):
  auth service          $(url AUTH_PORT 8000)   API docs $(url AUTH_PORT 8000)/api/docs/
  transaction service   $(url TRANSACTION_PORT 8001)   API docs $(url TRANSACTION_PORT 8001)/docs
  fraud service         $(url FRAUD_PORT 8002)   model $(url FRAUD_PORT 8002)/model
URLS
}
url() { local port; port="$(env_value "$1")"; echo "http://127.0.0.1:${port:-$2}"; }

down() { compose down -v --remove-orphans; }

smoke_test() {
  local auth transactions state failed=()
  auth="$(url AUTH_PORT 8000)"; transactions="$(url TRANSACTION_PORT 8001)"
  log "scripts/test_services.sh against the Compose stack"
  # Both checks run even when the first fails, so one report shows everything that is wrong.
  scripts/test_services.sh --auth-url "$auth" --transaction-url "$transactions" --fraud-url "$(url FRAUD_PORT 8002)" \
    --staff-username "$(env_value STAFF_USERNAME)" --staff-password "$(env_value STAFF_PASSWORD)" \
    || failed+=("scripts/test_services.sh")
  log "restart the transaction service: its transactions must still be there"
  state="$(mktemp)"
  if "$PYTHON" deploy/check_persistence.py record --state "$state" --auth-url "$auth" --transaction-url "$transactions" \
    && compose restart transaction-service \
    && compose up -d --wait --wait-timeout "$WAIT_TIMEOUT" --no-deps --no-recreate --no-build transaction-service \
    && "$PYTHON" deploy/check_persistence.py verify --state "$state" --auth-url "$auth" --transaction-url "$transactions"
  then :; else failed+=("transactions kept across a restart"); fi
  rm -f "$state"
  if [[ ${#failed[@]} -gt 0 ]]; then
    printf 'FAILED: %s\n' "${failed[@]}" >&2
    return 1
  fi
}

run_test() {
  local helper="${DOCKER_OFFLINE_HELPER:-$ROOT/../shared/tools/docker-offline.sh}" started=$SECONDS
  if [[ -x "$helper" || -f "$helper" ]]; then
    log "offline Docker helper ($helper)"
    bash "$helper"
  else
    echo "no offline Docker helper at $helper: using the installed Docker"
  fi
  # Tear down whatever happens, unless asked to keep the stack for investigation.
  [[ $keep == 1 ]] || trap 'log "docker compose down -v"; down' EXIT
  up
  smoke_test
  log "compose test passed in $((SECONDS - started)) s"
}

case "$command" in
  env) ensure_env ;;
  up) up ;;
  down) down ;;
  test) run_test ;;
  -h|--help|"") usage; [[ -n "$command" ]] ;;
  *) echo "unknown command: $command" >&2; usage >&2; exit 2 ;;
esac
