#!/usr/bin/env bash
# `make compose-test`: the plain `docker compose up --build` on a clean clone, checked end to end.
set -euo pipefail
usage() {
  cat <<USAGE
Usage: scripts/compose.sh test [--keep]

  test   clone the repository's HEAD into a temporary folder (no .env, no model, no data), run the plain
         \`docker compose up --build\` there, wait until PostgreSQL and the three services are healthy,
         check the stack is in production mode with generated secrets, create a staff account, run
         scripts/test_services.sh (APPROVED and BLOCKED decisions, a staff label), restart the transaction
         service and check its transactions are still there, check that the fraud service refuses a wrong
         MODEL_METADATA_SHA256 and serves pinned to its own, then \`docker compose down -v\` (also on
         failure; --keep leaves the stack and the clone to investigate).

Isolation on a shared machine only, never configuration: the stack runs as its own Compose project
(COMPOSE_PROJECT_NAME) on free host ports (AUTH_PORT, TRANSACTION_PORT, FRAUD_PORT).
Environment: DOCKER_OFFLINE_HELPER, a script that makes Docker usable on a machine without it (engine,
Compose plugin, base images), run first when set; nothing outside the repository is run otherwise (CI's
.ci/run sets it to its machine's helper). WAIT_TIMEOUT seconds until healthy (default 900: the first build
trains the model).
USAGE
}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
command="${1:-}"; shift || true
keep=0
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $arg" >&2; usage >&2; exit 2 ;;
  esac
done
case "$command" in
  test) ;;
  -h|--help) usage; exit 0 ;;
  *) echo "unknown command: ${command:-(none)}" >&2; usage >&2; exit 2 ;;
esac

WAIT_TIMEOUT="${WAIT_TIMEOUT:-900}"
PYTHON="$ROOT/.venv/bin/python"; [[ -x "$PYTHON" ]] || PYTHON=python3
LONG_RUNNING=(postgres auth-service fraud-detection-service transaction-service)
log() { printf '\n== %s\n' "$*"; }
free_port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

if [[ -n "${DOCKER_OFFLINE_HELPER:-}" ]]; then
  [[ -f "$DOCKER_OFFLINE_HELPER" ]] || { echo "DOCKER_OFFLINE_HELPER names no file: $DOCKER_OFFLINE_HELPER" >&2; exit 1; }
  log "offline Docker helper ($DOCKER_OFFLINE_HELPER)"
  bash "$DOCKER_OFFLINE_HELPER"
fi
docker compose version >/dev/null 2>&1 || { echo "docker compose is not available: install Docker and its Compose v2 plugin (or set DOCKER_OFFLINE_HELPER)" >&2; exit 1; }

started=$SECONDS
clone="$(mktemp -d)/detec_fraude"
log "clean clone of $(git -C "$ROOT" rev-parse --short=12 HEAD) into $clone"
git clone --quiet --no-hardlinks "$ROOT" "$clone"
cd "$clone"
[[ ! -e .env && ! -e ml_model/models/model_metadata.json ]] || { echo "the clone is not clean" >&2; exit 1; }

export COMPOSE_PROJECT_NAME="detec-fraude-test-$$"
AUTH_PORT="$(free_port)" TRANSACTION_PORT="$(free_port)" FRAUD_PORT="$(free_port)"
export AUTH_PORT TRANSACTION_PORT FRAUD_PORT
auth="http://127.0.0.1:$AUTH_PORT" transactions="http://127.0.0.1:$TRANSACTION_PORT" fraud="http://127.0.0.1:$FRAUD_PORT"

up_log="$clone/compose-up.log" up_pid=""
finish() {
  local status=$?
  if [[ $keep == 1 ]]; then
    echo "kept: cd $clone && COMPOSE_PROJECT_NAME=$COMPOSE_PROJECT_NAME docker compose ps"
  else
    log "docker compose down -v"
    docker compose down -v --remove-orphans >/dev/null 2>&1 || true
    [[ -z "$up_pid" ]] || wait "$up_pid" 2>/dev/null || true
    rm -rf "$(dirname "$clone")"
  fi
  exit "$status"
}
trap finish EXIT

log "docker compose up --build   (output: $up_log)"
docker compose up --build >"$up_log" 2>&1 &
up_pid=$!

healthy() { # every long-running service reports healthy
  local service id
  for service in "${LONG_RUNNING[@]}"; do
    id="$(docker compose ps -q "$service" 2>/dev/null)"
    [[ -n "$id" && "$(docker inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null)" == healthy ]] || return 1
  done
}
until healthy; do
  if ! kill -0 "$up_pid" 2>/dev/null || (( SECONDS - started > WAIT_TIMEOUT )); then
    echo "the stack did not become healthy; last lines of docker compose up:" >&2
    tail -n 60 "$up_log" >&2
    exit 1
  fi
  sleep 5
done
log "healthy after $((SECONDS - started)) s"
docker compose ps

failed=()
log "production mode with generated secrets"
# secrets-init finished, the services read their secrets from files and refuse placeholders in production.
[[ "$(docker inspect -f '{{.State.ExitCode}}' "$(docker compose ps -a -q secrets-init)")" == 0 ]] \
  || failed+=("secrets-init did not succeed")
grep -q "secrets-init.*generated" "$up_log" || failed+=("secrets-init generated nothing on a fresh clone")
for service in auth-service fraud-detection-service transaction-service; do
  [[ "$(docker compose exec -T "$service" printenv ENVIRONMENT)" == production ]] || failed+=("$service is not in production mode")
done
[[ "$(docker inspect -f '{{len .HostConfig.PortBindings}}' "$(docker compose ps -q postgres)")" == 0 ]] \
  || failed+=("PostgreSQL is published on the host")

log "staff account"
STAFF_USERNAME=analyst STAFF_PASSWORD="$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(18))')"
export STAFF_PASSWORD
docker compose exec -T -e STAFF_PASSWORD auth-service python manage.py ensure_staff_user --username "$STAFF_USERNAME" \
  --email "$STAFF_USERNAME@localhost" >/dev/null || failed+=("staff account")

log "scripts/test_services.sh against the Compose stack"
# Every check runs even when one fails, so one report shows everything that is wrong.
"$ROOT/scripts/test_services.sh" --auth-url "$auth" --transaction-url "$transactions" --fraud-url "$fraud" \
  --staff-username "$STAFF_USERNAME" --staff-password "$STAFF_PASSWORD" || failed+=("scripts/test_services.sh")

log "restart the transaction service: its transactions must still be there"
state="$(mktemp)"
if "$PYTHON" "$ROOT/deploy/check_persistence.py" record --state "$state" --auth-url "$auth" --transaction-url "$transactions" \
  && docker compose restart transaction-service \
  && docker compose up -d --wait --wait-timeout 300 --no-deps --no-recreate --no-build transaction-service \
  && "$PYTHON" "$ROOT/deploy/check_persistence.py" verify --state "$state" --auth-url "$auth" --transaction-url "$transactions"
then :; else failed+=("transactions kept across a restart"); fi
rm -f "$state"

log "model pin: the fraud service refuses another model's digest and serves with its own"
digest="$(docker compose exec -T fraud-detection-service sh -c 'sha256sum "$MODEL_DIR/model_metadata.json"' | cut -d' ' -f1)"
wrong="$(printf '%064d' 0)"
status=0
MODEL_METADATA_SHA256="$wrong" timeout 180 docker compose run --rm --no-deps fraud-detection-service \
  >"$clone/wrong-pin.log" 2>&1 || status=$?
if [[ $status == 0 || $status == 124 ]]; then  # exited cleanly, or still serving when timed out
  failed+=("the fraud service started with a wrong MODEL_METADATA_SHA256")
elif ! grep -q "MODEL_METADATA_SHA256" "$clone/wrong-pin.log"; then
  tail -n 5 "$clone/wrong-pin.log" >&2; failed+=("the refusal of a wrong pin does not name MODEL_METADATA_SHA256")
fi
# The digest from .env (here: the environment) recreates the container with the pin; it must become healthy.
MODEL_METADATA_SHA256="$digest" docker compose up -d --wait --wait-timeout 300 --no-deps --no-build fraud-detection-service \
  && [[ "$(docker compose exec -T fraud-detection-service printenv MODEL_METADATA_SHA256)" == "$digest" ]] \
  || failed+=("the fraud service pinned to its own model's digest")

if [[ ${#failed[@]} -gt 0 ]]; then
  printf 'FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
log "compose test passed in $((SECONDS - started)) s"
