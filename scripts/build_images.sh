#!/usr/bin/env bash
# Builds the three service images, tagged with the version and the git commit (never only `latest`).
# The fraud service image bakes in the trained model: artifacts missing from ml_model/models are trained first,
# and the image is labelled with the SHA-256 of their model_metadata.json (the MODEL_METADATA_SHA256 pin).
set -euo pipefail
usage() {
  cat <<USAGE
Usage: scripts/build_images.sh [--registry PREFIX] [--version VERSION] [--push] [--dry-run] [SERVICE...]

Builds PREFIX/auth-service, PREFIX/transaction-service and PREFIX/fraud-detection-service (or only the
SERVICEs named), each tagged VERSION-COMMIT, COMMIT and VERSION; COMMIT gets a -dirty suffix when the
working tree has uncommitted changes. Prints the tags it built.

  --registry PREFIX   image name prefix (default: detec-fraude), e.g. europe-west1-docker.pkg.dev/PROJECT/detec-fraude
                      or myregistry.azurecr.io/detec-fraude
  --version VERSION   release version (default: \$VERSION, else the latest git tag, else 0.1.0)
  --push              docker push every tag after building
  --dry-run           print the commands (training, build, push) instead of running them
The fraud image copies the artifacts from ml_model/models/ (trained there first when one is missing), is
labelled io.detec-fraude.model-metadata-sha256, and the script prints MODEL_METADATA_SHA256=<digest> to pin
in Compose (.env) or the Kubernetes ConfigMap (DEPLOYMENT.md).
USAGE
}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
registry=detec-fraude
version="${VERSION:-}"
push=0
dry_run=0
services=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --registry) registry="${2%/}"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    --push) push=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    auth-service|transaction-service|fraud-detection-service) services+=("$1"); shift ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ ${#services[@]} -gt 0 ]] || services=(auth-service transaction-service fraud-detection-service)
run() { if [[ $dry_run == 1 ]]; then echo "+ $*"; else "$@"; fi; }
cd "$ROOT"
[[ -n "$version" ]] || version="$(git describe --tags --abbrev=0 2>/dev/null || echo 0.1.0)"
commit="$(git rev-parse --short=12 HEAD)"
[[ -z "$(git status --porcelain --untracked-files=no)" ]] || commit="$commit-dirty"

model_dir=ml_model/models
if [[ " ${services[*]} " == *" fraud-detection-service "* ]]; then
  for artifact in isolation_forest_model.pkl scaler.pkl feature_columns.json model_metadata.json; do
    if [[ ! -f "$model_dir/$artifact" ]]; then
      echo "== $model_dir/$artifact is missing: training the model first (make train)"
      run make --no-print-directory train MODEL_DIR="$model_dir"
      break
    fi
  done
fi

model_pin=()
if [[ -f "$model_dir/model_metadata.json" ]]; then
  model_digest="$(sha256sum "$model_dir/model_metadata.json" | cut -d' ' -f1)"
  model_pin=(--build-arg MODEL_METADATA_SHA256="$model_digest")
fi

built=()
for service in "${services[@]}"; do
  extra=()
  case "$service" in
    auth-service) context=auth_service; dockerfile=auth_service/Dockerfile ;;
    # Both need fastapi_plumbing/ (fraud: ml_model/ too) beside the service: the repository root is their
    # context (see /.dockerignore).
    transaction-service) context=.; dockerfile=transaction_service/Dockerfile ;;
    fraud-detection-service) context=.; dockerfile=fraud_detection_service/Dockerfile; extra=("${model_pin[@]}") ;;
  esac
  image="$registry/$service"
  tags=("$image:$version-$commit" "$image:$commit" "$image:$version")
  echo "== building $image ($version, $commit)"
  run docker build --build-arg VERSION="$version" --build-arg GIT_COMMIT="$commit" "${extra[@]}" \
    -f "$dockerfile" "${tags[@]/#/--tag=}" "$context"
  built+=("${tags[@]}")
done

if [[ $push == 1 ]]; then
  for tag in "${built[@]}"; do run docker push "$tag"; done
fi
printf 'built %s\n' "${built[@]}"
if [[ " ${services[*]} " == *" fraud-detection-service "* && -n "${model_digest:-}" ]]; then
  echo "MODEL_METADATA_SHA256=$model_digest"
fi
