"""/model-card: the active model's card and its report's plots, for the analyst console; internal only."""

from __future__ import annotations

import json

import httpx
import pytest

PNG = b"\x89PNG\r\n\x1a\n-test-plot"


@pytest.fixture
def report_dir(model_dir):
    """The training report beside MODEL_DIR (where the service looks by default), removed afterwards."""
    folder = model_dir.parent / "reports"
    folder.mkdir(exist_ok=True)
    yield folder
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


def _version(model_dir) -> str:
    return json.loads((model_dir / "model_metadata.json").read_text())["model_version"]


@pytest.mark.parametrize("path", ["/model-card", "/model-card/plots/roc_curve"])
@pytest.mark.parametrize("token", [None, "wrong-token-of-a-plausible-length"])
def test_model_card_needs_the_internal_token(service, path, token):
    headers = {"X-Internal-Token": token} if token else {}
    response = httpx.get(service.url + path, headers=headers, timeout=10)
    assert response.status_code == 401


def test_model_card_describes_the_loaded_model(client, model_dir):
    metadata = json.loads((model_dir / "model_metadata.json").read_text())

    card = client.get("/model-card").json()

    assert card["model_version"] == metadata["model_version"]
    assert card["training_period"] == {"from": metadata["periods"]["train_from"], "to": metadata["periods"]["train_to"]}
    assert card["metrics"] == metadata["metrics"]
    assert card["plots"] == []  # no training report beside this model
    assert client.get("/model-card/plots/roc_curve").status_code == 404


def test_plots_are_served_only_from_this_models_report(client, model_dir, report_dir):
    (report_dir / "roc_curve.png").write_bytes(PNG)
    (report_dir / "model_card.md").write_text(f"# Model card — {_version(model_dir)}\n\nbody\n")

    assert client.get("/model-card").json()["plots"] == ["roc_curve"]
    plot = client.get("/model-card/plots/roc_curve")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png" and plot.content == PNG
    assert client.get("/model-card/plots/score_distribution").status_code == 404
    assert client.get("/model-card/plots/model_card").status_code == 422

    # A report left by another training run is not this model's: its plots are not shown.
    (report_dir / "model_card.md").write_text("# Model card — if-some-other-model\n")
    assert client.get("/model-card").json()["plots"] == []
    assert client.get("/model-card/plots/roc_curve").status_code == 404
