"""How a new model reaches a running deployment without downtime (DEPLOYMENT.md, "Delivering a new model"),
checked on the rendered manifests: in Kubernetes a model release is a new fraud image rolled out behind the
readiness probe (ready only once the artifacts are verified) and the PodDisruptionBudget."""

from __future__ import annotations

import pytest
from k8s_support import KUSTOMIZATIONS, kubectl, of_kind, render, selects

FRAUD = "fraud-detection-service"

pytestmark = pytest.mark.skipif(kubectl() is None, reason="kubectl is not installed")


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_a_new_fraud_image_rolls_out_without_losing_capacity_or_requests(kustomization):
    resources = render(kustomization)
    deployment = of_kind(resources, "Deployment")[FRAUD]
    pod = deployment["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == FRAUD)

    # The model is in the image: a new model is a new tag of this image, set by kustomize `images:`.
    assert container["image"].rsplit("/", 1)[-1].startswith(f"{FRAUD}:"), container["image"]
    # New pods take traffic only once /ready says the model is loaded and verified; old ones go only then.
    rolling = deployment["spec"]["strategy"]
    assert rolling["type"] == "RollingUpdate"
    assert rolling["rollingUpdate"]["maxUnavailable"] == 0 and rolling["rollingUpdate"]["maxSurge"] >= 1
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    # A terminating pod keeps serving while the endpoints drop it (preStop), then drains in-flight requests
    # (uvicorn finishes them on SIGTERM) within the grace period.
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep" and 0 < int(pre_stop[1]) < pod.get("terminationGracePeriodSeconds", 30)

    # Node drains and upgrades during a rollout keep a pod serving, and the autoscaler's floor leaves
    # room for the budget to allow an eviction at all.
    budgets = [b for b in of_kind(resources, "PodDisruptionBudget").values()
               if selects(b["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"])]
    assert len(budgets) == 1 and budgets[0]["spec"]["minAvailable"] >= 1
    autoscaler = next(h for h in of_kind(resources, "HorizontalPodAutoscaler").values()
                      if h["spec"]["scaleTargetRef"]["name"] == FRAUD)
    assert autoscaler["spec"]["minReplicas"] > budgets[0]["spec"]["minAvailable"]
