# Sourced by the FastAPI services' start.sh: "$1" names the service, "$2" is its default port.
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
