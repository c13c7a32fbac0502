"""Drift of the live traffic against the champion's training distributions (ml_model/drift.py).

Every prediction's model features and risk score go into a ring buffer of the last ``DRIFT_WINDOW``
predictions (one row copy per prediction); the population stability index per feature and for the score
is computed when asked (``/metrics`` scrape, ``/model``): the window is binned with the reference cut
points stored in the artifact metadata. Below ``DRIFT_MIN_SAMPLES`` predictions the PSI is not reported
(a handful of rows gives a large PSI by chance). The window restarts when the champion changes (its
features and references may differ). The window is the process's own: with several workers each sees
its share of the traffic, and /metrics and /model report the window of the worker that answers (a sample
of the traffic like any other; the counters, by contrast, are summed over the workers).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from app.core.config import settings
from app.services.risk_engine import RiskEngine
from ml_model.drift import PSI_ALERT, SCORE, psi, shares


class DriftMonitor:
    def __init__(self, window: int, min_samples: int) -> None:
        self.window, self.min_samples = window, min_samples
        self._lock = threading.Lock()  # on PostgreSQL predictions run in the threadpool
        self._version: str | None = None
        self._columns: list[str] = []
        self._reference: dict[str, Any] | None = None
        self._rows = np.empty((0, 0))
        self._count = 0

    def record(self, engine: RiskEngine, features: dict[str, float], risk_score: float) -> None:
        with self._lock:
            if engine.model_version != self._version:
                self._restart(engine)
            row = self._rows[self._count % self.window]
            for j, name in enumerate(self._columns):
                row[j] = features[name]
            row[-1] = risk_score
            self._count += 1

    def record_many(self, engine: RiskEngine, features: np.ndarray, risk_scores: list[float]) -> None:
        """``record`` of every row of ``features`` (every feature, ``FEATURE_COLUMNS`` order) at once."""
        with self._lock:
            if engine.model_version != self._version:
                self._restart(engine)
            rows = np.column_stack([features[:, engine.feature_index], risk_scores])[-self.window:]
            at = (self._count + len(risk_scores) - len(rows) + np.arange(len(rows))) % self.window
            self._rows[at] = rows
            self._count += len(risk_scores)

    def _restart(self, engine: RiskEngine) -> None:
        self._version = engine.model_version
        self._columns = list(engine.feature_columns)
        self._reference = engine.loaded.metadata.get("reference_distributions")
        self._rows = np.empty((self.window, len(self._columns) + 1))
        self._count = 0

    def report(self) -> dict[str, Any]:
        """PSI per feature and for the score over the window, and which are above the alert level."""
        with self._lock:
            rows = self._rows[: min(self._count, self.window)].copy()
            reference, columns, version = self._reference, self._columns, self._version
        result: dict[str, Any] = {"alert_level": PSI_ALERT, "window": self.window, "samples": len(rows),
                                  "min_samples": self.min_samples, "model_version": version,
                                  "score_psi": None, "feature_psi": {}, "alerts": []}
        if version is None:
            return result  # nothing predicted yet
        if reference is None:
            result["unavailable"] = ("no reference distributions in this model's metadata (trained before "
                                     "drift monitoring): retrain to monitor drift")
            return result
        if len(rows) < self.min_samples:
            return result
        for j, name in enumerate(columns):
            ref = reference["features"].get(name)
            if ref is not None:
                result["feature_psi"][name] = psi(ref["shares"], shares(rows[:, j], ref["cuts"]))
        result["score_psi"] = psi(reference[SCORE]["shares"], shares(rows[:, -1], reference[SCORE]["cuts"]))
        result["alerts"] = [name for name, value in (*result["feature_psi"].items(), (SCORE, result["score_psi"]))
                            if value > PSI_ALERT]
        return result


class _DriftCollector(Collector):
    """Computes the PSI gauges at scrape time (a /metrics request every few seconds, not per prediction)."""

    def __init__(self, monitor: DriftMonitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[GaugeMetricFamily]:
        report = self.monitor.report()
        gauge = GaugeMetricFamily("fraud_drift_psi", "Population stability index of the last DRIFT_WINDOW "
                                  "predictions against training (per model feature, and risk_score)",
                                  labels=["feature"])
        for name, value in report["feature_psi"].items():
            gauge.add_metric([name], value)
        if report["score_psi"] is not None:
            gauge.add_metric([SCORE], report["score_psi"])
        yield gauge
        yield GaugeMetricFamily("fraud_drift_psi_alert_level", "PSI above which drift is reported",
                                value=PSI_ALERT)
        yield GaugeMetricFamily("fraud_drift_window_samples", "Predictions in the drift window",
                                value=report["samples"])


MONITOR = DriftMonitor(settings.DRIFT_WINDOW, settings.DRIFT_MIN_SAMPLES)
DRIFT_METRICS = _DriftCollector(MONITOR)
REGISTRY.register(DRIFT_METRICS)
