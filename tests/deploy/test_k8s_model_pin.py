"""MODEL_METADATA_SHA256 in Kubernetes: the fraud service reads the pin from the ConfigMap; development
builds run unpinned, production overlays refuse to start without it, and a release's pin reaches the pod."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml
from k8s_support import KUSTOMIZATIONS, REPO, kubectl, render

pytestmark = pytest.mark.skipif(kubectl() is None, reason="kubectl (with built-in kustomize) is not installed")


def fraud_container(resources: list[dict]) -> dict:
    (deployment,) = [r for r in resources if r["kind"] == "Deployment"
                     and r["metadata"]["name"] == "fraud-detection-service"]
    return deployment["spec"]["template"]["spec"]["containers"][0]


def pin_reference(resources: list[dict]) -> dict:
    (variable,) = [v for v in fraud_container(resources)["env"] if v["name"] == "MODEL_METADATA_SHA256"]
    return variable["valueFrom"]["configMapKeyRef"]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_pin_comes_from_the_configmap_and_production_requires_it(kustomization):
    resources = render(kustomization)
    reference = pin_reference(resources)
    config_maps = {r["metadata"]["name"] for r in resources if r["kind"] == "ConfigMap"}
    assert reference["name"] in config_maps and reference["key"] == "MODEL_METADATA_SHA256"
    assert reference["optional"] is (not kustomization.endswith("-production"))


def test_a_release_sets_the_pin_in_its_overlay_and_the_fraud_pod_reads_it(tmp_path):
    digest = "0123456789abcdef" * 4
    release = tmp_path / "release"
    release.mkdir()
    (release / "kustomization.yaml").write_text(yaml.safe_dump({
        "resources": [os.path.relpath(REPO / "k8s-overlays" / "gke-production", release)],
        "configMapGenerator": [{"name": "detec-fraude-config", "behavior": "merge",
                                "literals": [f"MODEL_METADATA_SHA256={digest}"]}],
    }))
    result = subprocess.run([kubectl(), "kustomize", str(release)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    resources = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    reference = pin_reference(resources)
    (config,) = [r for r in resources if r["kind"] == "ConfigMap" and r["metadata"]["name"] == reference["name"]]
    assert config["data"]["MODEL_METADATA_SHA256"] == digest
    assert config["data"]["NUM_PROXIES"] == "2", "the merge keeps the rest of the configuration"
