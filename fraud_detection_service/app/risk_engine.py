"""The loaded model, ready for the request path: verified artifacts, the forest compiled into arrays,
the scaler reduced to two vectors, and the analyst-facing reasons.

Scores and decisions follow ``ml_model.scoring`` exactly (anomaly = -score_samples, BLOCKED iff
anomaly >= threshold, logistic risk centred on the threshold); only the forest traversal and the
scaling are re-implemented here, for speed, and tested for equality with scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.compiled_forest import CompiledForest
from ml_model.artifacts import LoadedModel, load_verified
from ml_model.features import describe_feature
from ml_model.scoring import BLOCKED, decision, risk_score

# A feature this many training standard deviations away from the mean is worth an analyst's attention.
UNUSUAL_Z = 2.0


@dataclass(frozen=True)
class Verdict:
    decision: str
    risk_score: float
    anomaly_score: float
    threshold: float
    reasons: list[str]
    model_version: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "risk_score": self.risk_score,
            "anomaly_score": self.anomaly_score,
            "threshold": self.threshold,
            "reasons": self.reasons,
            "model_version": self.model_version,
        }


class RiskEngine:
    def __init__(self, loaded: LoadedModel, *, max_reasons: int = 3) -> None:
        self.loaded = loaded
        self.feature_columns = list(loaded.feature_columns)
        self.forest = CompiledForest.from_sklearn(loaded.model)
        scaler = loaded.scaler
        # StandardScaler.transform is (x - mean_) / scale_ (scale_ already has 1 for constant features).
        width = len(self.feature_columns)
        self.mean = np.asarray(scaler.mean_, dtype=np.float64) if scaler.with_mean else np.zeros(width)
        self.scale = np.asarray(scaler.scale_, dtype=np.float64) if scaler.with_std else np.ones(width)
        self.threshold = loaded.threshold
        self.calibration = loaded.calibration
        self.model_version = loaded.model_version
        self.label_delay_days = loaded.label_delay_days
        self.max_reasons = max_reasons

    @classmethod
    def load(cls, model_dir: Path, *, max_reasons: int = 3) -> RiskEngine:
        """Raises ``ml_model.artifacts.ArtifactError`` naming the file and the problem."""
        return cls(load_verified(model_dir), max_reasons=max_reasons)

    def scale_rows(self, features: list[dict[str, float]]) -> tuple[np.ndarray, np.ndarray]:
        raw = np.array([[row[name] for name in self.feature_columns] for row in features], dtype=np.float64)
        return raw, (raw - self.mean) / self.scale

    def judge(self, features: list[dict[str, float]]) -> list[Verdict]:
        raw, scaled = self.scale_rows(features)
        anomaly = -self.forest.score_samples(scaled)
        risks = risk_score(anomaly, self.calibration)
        decisions = decision(anomaly, self.threshold)
        return [
            Verdict(
                decision=str(decisions[i]),
                risk_score=float(risks[i]),
                anomaly_score=float(anomaly[i]),
                threshold=self.threshold,
                reasons=self.reasons(raw[i], scaled[i], blocked=decisions[i] == BLOCKED),
                model_version=self.model_version,
            )
            for i in range(len(features))
        ]

    def judge_one(self, features: dict[str, float]) -> Verdict:
        """``judge([features])[0]`` without the batch machinery (the /predict path): same arithmetic,
        a fraction of the numpy calls."""
        raw = np.fromiter((features[name] for name in self.feature_columns), np.float64, len(self.feature_columns))
        scaled = (raw - self.mean) / self.scale
        anomaly = -self.forest.score_one(scaled)
        outcome = decision(anomaly, self.threshold).item()  # .item(): str() of a numpy string costs ~30 µs
        return Verdict(
            decision=outcome,
            risk_score=float(risk_score(anomaly, self.calibration)),
            anomaly_score=anomaly,
            threshold=self.threshold,
            reasons=self.reasons(raw, scaled, blocked=outcome == BLOCKED),
            model_version=self.model_version,
        )

    def reasons(self, raw: np.ndarray, scaled: np.ndarray, *, blocked: bool) -> list[str]:
        """The features furthest from what training saw, most unusual first, in analyst words. A
        blocked transaction always gets at least its most unusual feature."""
        distance = np.abs(scaled)
        order = np.argsort(-distance, kind="stable")
        chosen = order[distance[order] >= UNUSUAL_Z][: self.max_reasons].tolist()
        order = order.tolist()
        if blocked and not chosen and order and self.max_reasons:
            chosen = order[:1]
        return [describe_feature(self.feature_columns[j], float(raw[j])) for j in chosen]
