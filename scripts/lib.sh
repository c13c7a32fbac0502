# Shared by the local-run scripts (sourced, not executed).
# Sets ROOT, DATA_DIR, puts .venv/bin first on PATH, and exports the generated local secrets for every
# variable the caller has not set (the caller's environment always wins).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DATA_DIR="${DATA_DIR:-$ROOT/data}"
[[ -x "$ROOT/.venv/bin/python" ]] && export PATH="$ROOT/.venv/bin:$PATH"

load_local_env() {
  local env_file key value
  env_file="$(python "$ROOT/scripts/local_env.py" --quiet 2>&1)"
  while IFS='=' read -r key value; do
    [[ -z "$key" || "$key" == \#* ]] && continue
    [[ -z "${!key+x}" ]] && export "$key=$value"
  done < "$env_file"
  return 0
}

# Ports of the local stack; overridable, e.g. AUTH_PORT=9000 make run.
export AUTH_PORT="${AUTH_PORT:-8000}" TRANSACTION_PORT="${TRANSACTION_PORT:-8001}" FRAUD_PORT="${FRAUD_PORT:-8002}"
export AUTH_URL="${AUTH_URL:-http://127.0.0.1:$AUTH_PORT}"
export TRANSACTION_URL="${TRANSACTION_URL:-http://127.0.0.1:$TRANSACTION_PORT}"
export FRAUD_URL="${FRAUD_URL:-http://127.0.0.1:$FRAUD_PORT}"
export AUTH_JWKS_URL="${AUTH_JWKS_URL:-$AUTH_URL/api/auth/jwks/}"
export FRAUD_SERVICE_URL="${FRAUD_SERVICE_URL:-$FRAUD_URL}"
