"""Reading the Kubernetes manifests the way kustomize sees them, for the deployment tests."""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
BASE = K8S / "base"
# Every kustomization that must build: the default (development) one and the cloud overlays.
KUSTOMIZATIONS = ["", "overlays/gke", "overlays/aks", "overlays/gke-production", "overlays/aks-production"]
# The Kubernetes version the manifests target (GKE and AKS both offer it).
KUBERNETES_VERSION = "1.30"

SERVICES = {
    # Deployment name: (port, liveness path, readiness path)
    "auth-service": (8000, "/health/", "/ready/"),
    "transaction-service": (8001, "/health", "/ready"),
    "fraud-detection-service": (8002, "/health", "/ready"),
}
FASTAPI_SERVICES = ["transaction-service", "fraud-detection-service"]


def load_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def base_resource_files() -> list[Path]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    return [BASE / name for name in kustomization["resources"]]


def base_resources() -> list[dict]:
    """The base's resources as written (no kubectl needed)."""
    return [doc for path in base_resource_files() for doc in load_documents(path)]


def kubectl() -> str | None:
    return shutil.which("kubectl")


@functools.cache
def render(kustomization: str) -> list[dict]:
    """`kubectl kustomize` output of k8s/<kustomization> as a list of resources (cached: do not modify)."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(K8S / kustomization)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"kubectl kustomize k8s/{kustomization} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def of_kind(resources: list[dict], kind: str) -> dict[str, dict]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def pod_specs(resources: list[dict]) -> Iterator[tuple[str, dict]]:
    for r in resources:
        if r["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield r["metadata"]["name"], r["spec"]["template"]["spec"]


def containers(pod_spec: dict) -> list[dict]:
    return pod_spec.get("initContainers", []) + pod_spec["containers"]


def selects(selector: dict, labels: dict) -> bool:
    """Whether a label selector (matchLabels / matchExpressions with In) matches the labels."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", "only In expressions are used in these manifests"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True
