# Sourced by the FastAPI services' start.sh: "$1" names the service, "$2" is its default port; sets UVICORN_FLAGS (below).
# With WORKERS > 1 the workers of this server share a folder, emptied of what it holds for them at each
# start: metrics/ (prometheus_client multiprocess mode: /metrics sums every worker, fastapi_plumbing/metrics.py)
# and model-generation (the fraud service: a model reload reaches every worker). One worker needs neither,
# and multiprocess metrics cost CPU on every request, so they are left off.
if [[ "${WORKERS:-1}" -gt 1 ]]; then
  export WORKERS_SHARED_DIR="${WORKERS_SHARED_DIR:-${TMPDIR:-/tmp}/$1-${PORT:-$2}}"
  export PROMETHEUS_MULTIPROC_DIR="$WORKERS_SHARED_DIR/metrics"
  mkdir -p -m 700 "$WORKERS_SHARED_DIR"
  rm -rf "$PROMETHEUS_MULTIPROC_DIR" "$WORKERS_SHARED_DIR/model-generation"
  mkdir -m 700 "$PROMETHEUS_MULTIPROC_DIR"
else
  unset WORKERS_SHARED_DIR PROMETHEUS_MULTIPROC_DIR prometheus_multiproc_dir
fi

# The server settings of both services. uvloop and httptools (uvicorn[standard]) are what uvicorn's "auto"
# picks when installed; named here, a missing one fails the start instead of falling back to asyncio and h11
# (the trivial app: 0.23 instead of 0.13 ms of CPU per request, measured). No access log:
# RequestContextMiddleware logs each request once, with its id. --proxy-headers (uvicorn's default) takes
# the client address from X-Forwarded-For sent by a proxy in FORWARDED_ALLOW_IPS (default 127.0.0.1).
UVICORN_FLAGS=(--loop uvloop --http httptools --proxy-headers --no-access-log)
