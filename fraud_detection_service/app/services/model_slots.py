"""The models the service holds: the champion (it decides) and an optional challenger (scored in shadow,
app/services/shadow.py), loaded from ``MODEL_DIR`` and ``CHALLENGER_MODEL_DIR`` and swapped while serving.

A request reads ``app.state.models`` once and keeps that ``ModelSet`` to its end, so a swap never changes
the model under a request that has started: in-flight requests finish on the models they started with and
the next ones get the new set. Loading and verifying happen before the swap, off the event loop; a set
that fails verification is refused whole and the serving set stays, with the reason in the answer and
the log. Reloads and promotions are serialised by one lock.

Promotion copies the challenger's folder over the champion's (atomically, the way training writes it) and
empties the challenger slot, so a restart or a later reload serves what was promoted. With the champion
pinned (``MODEL_METADATA_SHA256``) every champion load checks that digest. The pin guards the folder
against changes from outside the service; a promotion is the service's own, authenticated change, so it
moves this process's pin to the promoted model and logs a warning: the configured pin must be updated
to that digest before the next start, which otherwise refuses the promoted model (DEPLOYMENT.md).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.metrics import CHALLENGER_INFO, MODEL_INFO, MODEL_SWAPS
from app.services.risk_engine import RiskEngine
from ml_model.artifacts import ALL_ARTIFACT_FILES, METADATA_FILE, ArtifactError, install_artifacts, sha256_of
from ml_model.reasons import ReasonPolicy

logger = logging.getLogger("app.models")


class ModelRefused(Exception):
    """A reload or promotion that was not applied; the message says why (the serving set is unchanged)."""


@dataclass(frozen=True)
class ModelSet:
    champion: RiskEngine
    challenger: RiskEngine | None = None

    def describe(self) -> dict[str, Any]:
        return {"champion": _summary(self.champion),
                "challenger": _summary(self.challenger) if self.challenger else None}


def _summary(engine: RiskEngine) -> dict[str, Any]:
    meta = engine.loaded.metadata
    return {"model_version": engine.model_version, "model_type": meta.get("model_type"),
            "created_at": meta.get("created_at"), "threshold": engine.threshold}


def load_challenger(folder: Path | None, champion: RiskEngine, *, reasons: ReasonPolicy) -> RiskEngine | None:
    """The challenger in ``folder``, or None when no folder is configured or it holds no model (an empty
    slot is normal: nothing is being tried). Raises ``ArtifactError`` for a model that must not be used."""
    if folder is None or not (folder / METADATA_FILE).exists():
        return None
    challenger = RiskEngine.load(folder, reasons=reasons)
    # The challenger scores the features computed for the champion; terminal windows depend on the
    # label delay, so a different delay would feed it features it was not trained on.
    if challenger.label_delay_days != champion.label_delay_days:
        raise ArtifactError(
            f"{folder / METADATA_FILE}: label delay {challenger.label_delay_days} days differs from the "
            f"champion's {champion.label_delay_days}; the shadow scores would use features it was not trained on"
        )
    return challenger


class ModelSlots:
    """Owns ``state.models`` (and ``state.risk_engine``, the champion, for the code that reads only it)."""

    def __init__(self, state: Any, champion_dir: Path, challenger_dir: Path | None, *, reasons: ReasonPolicy,
                 champion_metadata_sha256: str | None = None) -> None:
        self.state = state
        self.champion_dir = champion_dir
        self.champion_metadata_sha256 = champion_metadata_sha256
        self.challenger_dir = challenger_dir
        self.reasons = reasons
        self._lock = threading.Lock()
        # Told of every reload or promotion applied here (action, the new champion's metadata digest):
        # the other workers follow (app/services/model_sync.py). None with one worker.
        self.announce: Callable[[str, str | None], None] | None = None

    @property
    def current(self) -> ModelSet:
        return self.state.models

    def start(self) -> ModelSet:
        """At startup: the champion must load (``ArtifactError`` otherwise); a challenger that fails is
        logged and left out (it never decides, so it does not stop the service)."""
        champion = self._load_champion()
        try:
            challenger = load_challenger(self.challenger_dir, champion, reasons=self.reasons)
        except ArtifactError as exc:
            logger.error("challenger refused, serving without one: %s", exc)
            challenger = None
        return self._swap(ModelSet(champion, challenger))

    def reload(self, *, announce: bool = True) -> tuple[ModelSet, ModelSet]:
        """Load both folders again and swap them in; returns (previous, new). ``ModelRefused`` keeps the
        serving set. ``announce=False``: a worker following another's change (which was announced)."""
        with self._lock:
            previous = self.current
            try:
                champion = self._load_champion()
                challenger = load_challenger(self.challenger_dir, champion, reasons=self.reasons)
            except ArtifactError as exc:
                MODEL_SWAPS.labels("reload", "refused").inc()
                logger.error("model reload refused, still serving %s: %s", previous.champion.model_version, exc)
                raise ModelRefused(str(exc)) from None
            new = self._swap(ModelSet(champion, challenger))
            MODEL_SWAPS.labels("reload", "applied").inc()
            logger.info("models reloaded: champion %s -> %s, challenger %s -> %s",
                        previous.champion.model_version, champion.model_version,
                        _version(previous.challenger), _version(challenger))
            if announce and self.announce is not None:
                self.announce("reload", None)
            return previous, new

    def promote(self) -> tuple[ModelSet, ModelSet]:
        """The challenger becomes the champion, on disk and in memory; returns (previous, new)."""
        with self._lock:
            previous = self.current
            challenger = previous.challenger
            if challenger is None or self.challenger_dir is None:
                raise ModelRefused("no challenger is loaded; put one in CHALLENGER_MODEL_DIR and reload first")
            try:
                on_disk = json.loads((self.challenger_dir / METADATA_FILE).read_text())
            except (OSError, ValueError) as exc:
                raise ModelRefused(f"{self.challenger_dir / METADATA_FILE}: unreadable ({exc})") from None
            if on_disk.get("sha256") != challenger.loaded.metadata.get("sha256"):
                raise ModelRefused(f"{self.challenger_dir} changed since the challenger "
                                   f"{challenger.model_version} was loaded; reload, compare, then promote")
            try:
                install_artifacts(self.challenger_dir, self.champion_dir)
            except (OSError, ArtifactError) as exc:
                MODEL_SWAPS.labels("promote", "refused").inc()
                logger.error("promotion of %s refused: %s", challenger.model_version, exc)
                raise ModelRefused(f"cannot install the challenger into {self.champion_dir}: {exc}") from None
            # From here the champion's folder holds the promoted model: memory, pin and the other workers
            # follow it whatever happens to the challenger's slot.
            try:
                _empty_slot(self.challenger_dir)
            except OSError as exc:
                logger.error("challenger %s promoted, but its slot %s could not be emptied (%s): until it is, "
                             "a reload loads the same model as the challenger too", challenger.model_version,
                             self.challenger_dir, exc)
            if self.champion_metadata_sha256:
                self.champion_metadata_sha256 = sha256_of(self.champion_dir / METADATA_FILE)
                logger.warning("MODEL_METADATA_SHA256 still pins the previous champion; set it to %s before the "
                               "next start, which refuses any other model", self.champion_metadata_sha256)
            new = self._swap(ModelSet(challenger, None))
            MODEL_SWAPS.labels("promote", "applied").inc()
            logger.info("challenger %s promoted to champion (was %s)", challenger.model_version,
                        previous.champion.model_version)
            if self.announce is not None:
                self.announce("promote", sha256_of(self.champion_dir / METADATA_FILE))
            return previous, new

    def _load_champion(self) -> RiskEngine:
        return RiskEngine.load(self.champion_dir, reasons=self.reasons,
                               metadata_sha256=self.champion_metadata_sha256)

    def _swap(self, models: ModelSet) -> ModelSet:
        previous: ModelSet | None = getattr(self.state, "models", None)
        # One attribute assignment: a request sees the old set or the new one, never a mixture.
        self.state.models = models
        self.state.risk_engine = models.champion
        # Zeroed before clear(): with several workers the value lives in a file clear() leaves alone.
        if previous is not None:
            MODEL_INFO.labels(*_info_labels(previous.champion)).set(0)
            if previous.challenger is not None:
                CHALLENGER_INFO.labels(previous.challenger.model_version).set(0)
        MODEL_INFO.clear()
        MODEL_INFO.labels(*_info_labels(models.champion)).set(1)
        CHALLENGER_INFO.clear()
        if models.challenger is not None:
            CHALLENGER_INFO.labels(models.challenger.model_version).set(1)
        return models


def _info_labels(engine: RiskEngine) -> tuple[str, str]:
    return engine.model_version, engine.loaded.metadata["library_versions"]["scikit-learn"]


def _version(engine: RiskEngine | None) -> str:
    return engine.model_version if engine else "none"


def _empty_slot(folder: Path) -> None:
    """Remove the artifacts from the challenger slot, the metadata first: without it the slot reads as
    empty even if removing the rest fails halfway. The folder itself stays (it may be a mount point)."""
    for name in (METADATA_FILE, *ALL_ARTIFACT_FILES):
        (folder / name).unlink(missing_ok=True)
