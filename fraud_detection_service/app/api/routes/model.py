from __future__ import annotations

from app.api.deps import INTERNAL, ModelSetDep, internal_router
from app.schemas import FeatureOut, ModelOut
from app.services.drift import MONITOR as DRIFT
from ml_model.artifacts import HYBRID
from ml_model.attribution import HYBRID_METHOD, METHOD
from ml_model.features import FEATURE_DESCRIPTIONS

# Threshold, calibration and features tell a prober how to stay under the line: internal callers only.
router = internal_router(prefix="/model", tags=["model"])


@router.get(
    "", response_model=ModelOut, summary="The serving model",
    description=(
        "The model that decides `POST /predict`: its version and training date, its kind, the `threshold` at "
        "and above which a transaction is `BLOCKED`, the calibration of `risk_score`, the features with what "
        "each measures, how contributions are explained and the score they start from "
        "(`baseline_anomaly_score`), the training's hyper-parameters, evaluation metrics and data summary, "
        "the library versions it was trained with, the challenger scoring in shadow (or null), and the drift "
        "of the served features and scores from the training data.\n\n" + INTERNAL))
def model_info(models: ModelSetDep) -> ModelOut:
    risk = models.champion
    meta = risk.loaded.metadata
    return ModelOut(
        model_version=risk.model_version,
        created_at=meta.get("created_at"),
        model_kind=risk.kind,
        model_type=meta.get("model_type"),
        threshold=risk.threshold,
        risk_calibration=risk.calibration,
        score_definition=meta.get("score_definition"),
        label_delay_days=risk.label_delay_days,
        library_versions=meta.get("library_versions", {}),
        features=[FeatureOut(name=n, description=FEATURE_DESCRIPTIONS[n]) for n in risk.feature_columns],
        explanation_method=HYBRID_METHOD if risk.kind == HYBRID else METHOD,
        baseline_anomaly_score=risk.baseline_anomaly_score,
        hyper_parameters=meta.get("hyper_parameters", {}),
        metrics=meta.get("metrics", {}),
        data_summary=meta.get("data_summary", {}),
        challenger=models.describe()["challenger"],
        drift=DRIFT.report(),
    )
