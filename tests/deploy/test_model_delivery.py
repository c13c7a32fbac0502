"""How a new model reaches a running deployment without downtime (DEPLOYMENT.md, "Delivering a new model"),
checked on the rendered configuration: in Kubernetes a new fraud image rolled out behind the readiness probe
(ready only once the artifacts are verified) and the PodDisruptionBudget; in Compose a model volume that
the hot reload reads."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
from k8s_support import KUSTOMIZATIONS, REPO, kubectl, of_kind, render, selects
from test_compose import compose_config

FRAUD = "fraud-detection-service"


@pytest.mark.skipif(kubectl() is None, reason="kubectl is not installed")
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


def test_compose_serves_the_models_from_a_volume_that_a_hot_reload_reads(tmp_path):
    """Compose runs one fraud container, so a new image would be a restart: there the models live on the
    `models` volume, and a challenger is installed, compared and promoted while the container serves."""
    fraud = compose_config(tmp_path)["services"][FRAUD]
    volume = next(v for v in fraud["volumes"] if v["target"] == "/models")
    assert volume["type"] == "volume" and volume["source"] == "models" and not volume.get("read_only")
    # Siblings on one filesystem: promotion swaps a staged copy in beside the champion folder.
    assert PurePosixPath(fraud["environment"]["MODEL_DIR"]) == PurePosixPath("/models/champion")
    assert PurePosixPath(fraud["environment"]["CHALLENGER_MODEL_DIR"]) == PurePosixPath("/models/challenger")
    # A new volume starts as the image's /models: the image's model, owned by the service's user.
    dockerfile = (REPO / "fraud_detection_service" / "Dockerfile").read_text()
    assert "COPY --from=model --chown=10001:10001 /build/model/ /models/champion/" in dockerfile
    assert "USER 10001:10001" in dockerfile
