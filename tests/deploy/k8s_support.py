"""Reading the Kubernetes manifests the way kustomize sees them, for the deployment tests."""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
# The base (the seed's manifests and what the platform added) and the cloud overlays built on it; the
# overlays sit beside k8s/ because kustomize refuses a base folder that contains its overlay.
K8S = REPO / "k8s"
OVERLAYS = REPO / "k8s-overlays"
# Every kustomization that must build, relative to the repository: the base and the cloud overlays.
KUSTOMIZATIONS = ["k8s", "k8s-overlays/gke", "k8s-overlays/aks", "k8s-overlays/gke-production",
                  "k8s-overlays/aks-production"]
# The seed's Kubernetes files, which must stay at these paths as the base's real resources.
SEED_MANIFESTS = ["namespace.yaml", "configmap.yaml", "secrets.yaml", "auth-service-deployment.yaml",
                  "transaction-service-deployment.yaml", "fraud-detection-service-deployment.yaml",
                  "ingress.yaml"]
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
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [K8S / name for name in kustomization["resources"]]


def base_resources() -> list[dict]:
    """The base's resources as written (no kubectl needed)."""
    return [doc for path in base_resource_files() for doc in load_documents(path)]


def kubectl() -> str | None:
    return shutil.which("kubectl")


@functools.cache
def render(kustomization: str) -> list[dict]:
    """`kubectl kustomize <kustomization>` output as a list of resources (cached: do not modify)."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(REPO / kustomization)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"kubectl kustomize {kustomization} failed:\n{result.stderr}"
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
