"""The loaded model, ready for the request path: verified artifacts, the forest (and a hybrid model's
classifier) compiled into arrays, the scaler reduced to two vectors, each feature's contribution to the
score, and the reasons.

``RiskEngine.load(model_dir)`` is the one way the service turns an artifact folder into a scorer, for
either model kind (``isolation_forest`` or ``hybrid``, from the metadata).

Scores and decisions follow ``ml_model.scoring`` exactly (anomaly = -score_samples; a hybrid's score =
the classifier's fraud probability over [features, anomaly]; BLOCKED iff score >= threshold, logistic
risk centred on the threshold), contributions ``ml_model.attribution`` and reasons ``ml_model.reasons``;
only the tree traversals (each model's score and path attribution in one walk) and the scaling are
re-implemented here, for speed, and tested for equality with the reference.

A hybrid's contributions explain its classifier's fraud probability (``ml_model.attribution``,
``hybrid_contributions``): the classifier's own credits, the anomaly score's shared among the features by
the forest's contributions of the same row; its reasons are built from those.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic_core import to_json

from app.services.compiled_boosting import CompiledBoostedTrees
from app.services.compiled_forest import CompiledForest
from ml_model.artifacts import HYBRID, LoadedModel, load_verified
from ml_model.attribution import baseline_anomaly_score, baseline_probability, hybrid_contributions, to_anomaly_units
from ml_model.features import FEATURE_COLUMNS
from ml_model.profile_store import Transaction
from ml_model.reasons import NOTHING_STANDS_OUT, ReasonPolicy, reasons_for, stands_out
from ml_model.scoring import decision, decision_one, risk_score, risk_score_one


@dataclass(frozen=True)
class Verdict:
    decision: str
    risk_score: float
    # The score ``threshold`` applies to: the forest's anomaly score, or a hybrid's fraud probability
    # (the wire field keeps its name: CONVENTIONS.md).
    anomaly_score: float
    threshold: float
    reasons: list[str]
    model_version: str
    # Every model feature as {"feature", "value", "contribution"}, largest contribution first; the
    # contributions add up to anomaly_score minus the model's baseline_anomaly_score (see /model).
    contributions: list[dict[str, Any]]

    # The two lists as JSON text, encoded once for the stored row and the response alike, by pydantic's Rust
    # encoder: json.dumps' float formatting of a batch's ~16,000 contributions cost as much as scoring it
    # (both give the shortest text that reads back as the same float).
    @cached_property
    def reasons_json(self) -> str:
        return to_json(self.reasons).decode()

    @cached_property
    def contributions_json(self) -> str:
        return to_json(self.contributions).decode()

    def _scalars(self) -> dict[str, Any]:
        return {"decision": self.decision, "risk_score": self.risk_score, "anomaly_score": self.anomaly_score,
                "threshold": self.threshold, "model_version": self.model_version}

    def as_dict(self) -> dict[str, Any]:
        return {**self._scalars(), "reasons": self.reasons, "contributions": self.contributions}

    def stored_columns(self) -> dict[str, Any]:
        """``as_dict`` with the two lists as JSON text: the values of the stored row's columns."""
        return {**self._scalars(), "reasons": self.reasons_json, "contributions": self.contributions_json}

    def json(self, transaction_id: str) -> str:
        """The answer as ``PredictionOut``'s JSON (/predict, and each row of /predict/batch), written around
        the lists as already encoded for the stored row: validating and serialising 16 contributions
        through the response model cost more than writing the row (the tests validate it against
        ``PredictionOut``)."""
        # PredictionOut's field order, so the text is FastAPI's own answer's (a retry's is compared byte for byte).
        head = to_json({"transaction_id": transaction_id, "decision": self.decision, "risk_score": self.risk_score,
                        "anomaly_score": self.anomaly_score, "threshold": self.threshold}).decode()
        version = to_json(self.model_version).decode()
        return (f'{head[:-1]},"reasons":{self.reasons_json},"model_version":{version},'
                f'"contributions":{self.contributions_json}}}')


class RiskEngine:
    def __init__(self, loaded: LoadedModel, *, reasons: ReasonPolicy = ReasonPolicy()) -> None:
        self.loaded = loaded
        self.kind = loaded.kind
        self.feature_columns = list(loaded.feature_columns)
        # Where the model's columns sit among every feature (the rows /predict/batch judges, FEATURE_COLUMNS order).
        self.feature_index = np.array([FEATURE_COLUMNS.index(name) for name in self.feature_columns], dtype=np.intp)
        self.forest = CompiledForest.from_sklearn(loaded.model)
        self.classifier = (CompiledBoostedTrees.from_sklearn(loaded.classifier)
                           if loaded.kind == HYBRID else None)
        scaler = loaded.scaler
        # StandardScaler.transform is (x - mean_) / scale_ (scale_ already has 1 for constant features).
        width = len(self.feature_columns)
        self.mean = np.asarray(scaler.mean_, dtype=np.float64) if scaler.with_mean else np.zeros(width)
        self.scale = np.asarray(scaler.scale_, dtype=np.float64) if scaler.with_std else np.ones(width)
        self.threshold = loaded.threshold
        self.calibration = loaded.calibration
        self.model_version = loaded.model_version
        self.label_delay_days = loaded.label_delay_days
        self.reasons = reasons
        # Anomaly score = 2 ** (-mean path length / c); contributions start from the forest's baseline.
        self.path_normaliser = self.forest.denominator / self.forest.roots.size
        self.baseline_path_length = self.forest.expected_mean_path_length
        # Where a verdict's contributions start (GET /model): the forest's baseline anomaly score, or the
        # probability at a hybrid classifier's expected log-odds.
        self.baseline_anomaly_score = baseline_anomaly_score(self.baseline_path_length, self.path_normaliser) \
            if self.classifier is None else baseline_probability(self.classifier.expected_log_odds)

    @classmethod
    def load(cls, model_dir: Path, *, reasons: ReasonPolicy = ReasonPolicy(),
             metadata_sha256: str | None = None) -> RiskEngine:
        """Verify and load the artifact folder ``model_dir`` (either kind); ``metadata_sha256`` pins the
        metadata file's digest. Raises ``ml_model.artifacts.ArtifactError`` naming the file and the problem."""
        return cls(load_verified(model_dir, metadata_sha256=metadata_sha256), reasons=reasons)

    def scale_rows(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model's raw and scaled columns of rows of every feature (``FEATURE_COLUMNS`` order)."""
        raw = np.asarray(features, dtype=np.float64)[:, self.feature_index]
        return raw, (raw - self.mean) / self.scale

    def scores(self, raw: np.ndarray, scaled: np.ndarray) -> np.ndarray:
        """The model score of each row (raw and scaled features in ``feature_columns`` order)."""
        return self._chain(raw, scaled, explain=False)[0]

    def _chain(self, raw: np.ndarray, scaled: np.ndarray, *, explain: bool) -> tuple[Any, np.ndarray | None]:
        """The model score of rows (2-D), or of one row (1-D, on the one-row traversals), and with
        ``explain`` its contributions: the forest's anomaly score, then a hybrid's classifier over the raw
        features and that score, whose credits share the anomaly score's by the forest's."""
        one = raw.ndim == 1
        forest, classifier = self.forest, self.classifier
        if explain:
            score, credits = (forest.explain_one if one else forest.explain_samples)(scaled)
            shares = to_anomaly_units(credits, self.baseline_path_length, self.path_normaliser)
        else:
            score, shares = (forest.score_one if one else forest.score_samples)(scaled), None
        anomaly = -score
        if classifier is None:
            return anomaly, shares
        inputs = np.append(raw, anomaly) if one else np.column_stack([raw, anomaly])
        if not explain:
            return (classifier.fraud_probability_one if one else classifier.fraud_probability)(inputs), None
        probability, log_odds = (classifier.explain_one if one else classifier.explain_samples)(inputs)
        return probability, hybrid_contributions(log_odds, classifier.expected_log_odds, shares)

    def judge(self, features: np.ndarray, txs: Sequence[Transaction]) -> list[Verdict]:
        """Verdicts of many transactions (/predict/batch), each equal to ``judge_one``'s: ``features`` is
        (n, len(FEATURE_COLUMNS)), row i every feature of ``txs[i]`` (``ml_model.features.online_features_batch``).
        Scores, decisions, risks, contributions and their order over the whole matrix; only the reasons'
        wording is per row."""
        raw, scaled = self.scale_rows(features)
        score, shares = self._chain(raw, scaled, explain=True)
        # Largest first, ties in column order: what judge_one's sorted(..., reverse=True) gives.
        orders = np.argsort(-shares, axis=1, kind="stable").tolist()
        every, values, contributions = np.asarray(features).tolist(), raw.tolist(), shares.tolist()
        return [self._answer(dict(zip(FEATURE_COLUMNS, every[i], strict=True)), txs[i], values[i], *answer,
                             contributions[i], orders[i])
                for i, answer in enumerate(zip(score.tolist(), decision(score, self.threshold).tolist(),
                                               risk_score(score, self.calibration).tolist(), strict=True))]

    def decide_many(self, features: np.ndarray) -> tuple[list[str], list[float]]:
        """Decisions and risk scores of many rows (every feature, as for ``judge``), without reasons (the
        challenger in shadow of a batch)."""
        if not len(features):
            return [], []
        score = self.scores(*self.scale_rows(features))
        return decision(score, self.threshold).tolist(), risk_score(score, self.calibration).tolist()

    def judge_one(self, features: dict[str, float], tx: Transaction) -> Verdict:
        """``judge([features], [tx])[0]`` without the batch machinery (the /predict path):
        same arithmetic, a fraction of the numpy calls."""
        raw = self._row(features)
        score, shares = self._chain(raw, (raw - self.mean) / self.scale, explain=True)
        return self._verdict(features, tx, raw, score, shares)

    def decide_one(self, features: dict[str, float]) -> tuple[str, float]:
        """(decision, risk score) only: the challenger's shadow answer, which nobody reads reasons of."""
        raw = self._row(features)
        score = self._chain(raw, (raw - self.mean) / self.scale, explain=False)[0]
        return decision_one(score, self.threshold), risk_score_one(score, self.calibration)

    def _row(self, features: Mapping[str, float]) -> np.ndarray:
        return np.fromiter((features[name] for name in self.feature_columns), np.float64, len(self.feature_columns))

    def _verdict(self, features: Mapping[str, float], tx: Transaction, raw: np.ndarray, score: float,
                 shares: np.ndarray) -> Verdict:
        """``shares``: the model's contributions of this row, in ``feature_columns`` order."""
        contributions = shares.tolist()
        order = sorted(range(len(contributions)), key=contributions.__getitem__, reverse=True)
        return self._answer(features, tx, raw.tolist(), score, decision_one(score, self.threshold),
                            risk_score_one(score, self.calibration),
                            contributions, order)

    def _answer(self, features: Mapping[str, float], tx: Transaction, values: list[float], score: float,
                outcome: str, risk: float, contributions: list[float], order: list[int]) -> Verdict:
        columns = self.feature_columns
        reasons = reasons_for(
            dict(zip(columns, contributions, strict=True)), features, decision=outcome, risk=risk,
            terminal_id=tx.terminal_id, timestamp=tx.timestamp, label_delay_days=self.label_delay_days,
            currency=tx.currency, policy=self.reasons,
        ) if stands_out(outcome, risk, self.reasons) else [NOTHING_STANDS_OUT]  # without the contributions' dict
        return Verdict(
            decision=outcome,
            risk_score=risk,
            anomaly_score=score,
            threshold=self.threshold,
            reasons=reasons,
            model_version=self.model_version,
            contributions=[{"feature": columns[j], "value": values[j], "contribution": contributions[j]}
                           for j in order],
        )
