"""/model-card: the active model's card for the analyst console (behind the transaction service's staff
API): training period, metrics and the training report's plots. Internal token required."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi.responses import FileResponse
from fastapi_plumbing.problems import Problem

from app.api.deps import INTERNAL, RiskEngineDep, internal_router
from app.core.config import settings
from app.services.risk_engine import RiskEngine

router = internal_router(prefix="/model-card", tags=["model"])
PLOTS = ("roc_curve", "precision_recall_curve", "score_distribution")
Plot = Literal["roc_curve", "precision_recall_curve", "score_distribution"]


def _report_dir(risk: RiskEngine) -> Path | None:
    """The report folder, if its model card is this model's: a report left by another training run would
    show plots of a model that is not deciding."""
    folder = settings.MODEL_REPORT_DIR or settings.MODEL_DIR.parent / "reports"
    try:
        title = (folder / "model_card.md").read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    return folder if title.strip().endswith(risk.model_version) else None


@router.get(
    "", summary="The serving model's card",
    description=(
        "What the analyst console shows of the serving model: version, kind, training and evaluation periods, "
        "the threshold and the rule that chose it, evaluation metrics, a summary of the training data, and "
        "`plots`: the names of the training report's plots that `GET /model-card/plots/{plot}` serves (none "
        "when the report on disk is not this model's).\n\n" + INTERNAL))
def model_card(risk: RiskEngineDep) -> dict[str, Any]:
    meta = risk.loaded.metadata
    periods = meta.get("periods", {})
    folder = _report_dir(risk)
    return {
        "model_version": risk.model_version,
        "created_at": meta.get("created_at"),
        "model_type": meta.get("model_type"),
        "training_period": {"from": periods.get("train_from"), "to": periods.get("train_to")},
        "evaluation_period": {"from": periods.get("eval_from"), "to": periods.get("eval_to")},
        "threshold_rule": meta.get("threshold_rule"),
        "anomaly_threshold": risk.threshold,
        "metrics": meta.get("metrics", {}),
        "data_summary": meta.get("data_summary", {}),
        "plots": [name for name in PLOTS if folder is not None and (folder / f"{name}.png").is_file()],
    }


@router.get(
    "/plots/{plot}", response_class=FileResponse, summary="A plot of the serving model's training report",
    description=("The PNG of `roc_curve`, `precision_recall_curve` or `score_distribution` from the serving "
                 "model's training report; 404 `plot_not_found` when that report has no such plot or is not "
                 "this model's.\n\n" + INTERNAL),
    responses={200: {"content": {"image/png": {}}}, 404: {"description": "`plot_not_found`"}})
def model_plot(plot: Plot, risk: RiskEngineDep) -> FileResponse:
    folder = _report_dir(risk)
    if folder is None or not (folder / f"{plot}.png").is_file():
        raise Problem(404, f"The active model's report has no {plot} plot.", code="plot_not_found")
    return FileResponse(folder / f"{plot}.png", media_type="image/png")
