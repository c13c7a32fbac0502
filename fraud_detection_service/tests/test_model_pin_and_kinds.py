"""Model slots with either kind, and with the champion pinned by MODEL_METADATA_SHA256."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from app.services import model_slots
from app.services.model_slots import ModelRefused, ModelSlots
from ml_model.artifacts import CLASSIFIER_FILE, METADATA_FILE, ArtifactError, sha256_of
from ml_model.reasons import ReasonPolicy


def _slots(tmp_path, champion_src, challenger_src, pin: bool) -> ModelSlots:
    champion, challenger = tmp_path / "champion", tmp_path / "challenger"
    shutil.copytree(champion_src, champion)
    shutil.copytree(challenger_src, challenger)
    return ModelSlots(SimpleNamespace(), champion, challenger, reasons=ReasonPolicy(),
                      champion_metadata_sha256=sha256_of(champion / METADATA_FILE) if pin else None)


def test_a_hybrid_challenger_is_promoted_with_its_classifier(tmp_path, model_dir, hybrid_model_dir):
    slots = _slots(tmp_path, model_dir, hybrid_model_dir, pin=False)
    assert slots.start().challenger.kind == "hybrid"
    _, new = slots.promote()
    assert new.champion.kind == "hybrid"
    assert (slots.champion_dir / CLASSIFIER_FILE).is_file()
    assert not (slots.challenger_dir / CLASSIFIER_FILE).exists()  # the slot is emptied, classifier included
    previous, reloaded = slots.reload()  # what a restart would load
    assert reloaded.champion.model_version == new.champion.model_version


def test_a_pinned_champion_is_replaced_only_by_the_service_own_promotion(tmp_path, model_dir, second_model_dir,
                                                                        caplog):
    slots = _slots(tmp_path, model_dir, second_model_dir, pin=True)
    configured_pin = slots.champion_metadata_sha256
    slots.start()
    # The folder replaced behind the service's back (a consistent, verified model, but not the pinned one).
    original = tmp_path / "original"
    shutil.move(slots.champion_dir, original)
    shutil.copytree(second_model_dir, slots.champion_dir)
    with pytest.raises(ModelRefused, match="differs from the pinned MODEL_METADATA_SHA256"):
        slots.reload()
    shutil.rmtree(slots.champion_dir)
    shutil.move(original, slots.champion_dir)

    # A promotion (authenticated, verified) moves this process's pin and says the configured one must follow.
    _, promoted = slots.promote()
    assert "set it to" in caplog.text and slots.champion_metadata_sha256 in caplog.text
    assert slots.reload()[1].champion.model_version == promoted.champion.model_version
    with pytest.raises(ArtifactError, match="differs from the pinned MODEL_METADATA_SHA256"):  # a restart, old pin
        ModelSlots(SimpleNamespace(), slots.champion_dir, None, reasons=ReasonPolicy(),
                   champion_metadata_sha256=configured_pin).start()


def test_a_promotion_stands_when_the_challenger_slot_cannot_be_emptied(tmp_path, model_dir, second_model_dir,
                                                                      monkeypatch, caplog):
    # Before: answered "cannot install the challenger" and kept serving the old champion, while its folder
    # already held the promoted model, which the unmoved pin then refused at every reload and restart.
    slots = _slots(tmp_path, model_dir, second_model_dir, pin=True)
    challenger = slots.start().challenger.model_version

    def read_only(folder):
        raise OSError(30, "Read-only file system", str(folder))

    monkeypatch.setattr(model_slots, "_empty_slot", read_only)
    _, promoted = slots.promote()

    assert promoted.champion.model_version == challenger and promoted.challenger is None
    assert slots.champion_metadata_sha256 == sha256_of(slots.champion_dir / METADATA_FILE)
    assert "could not be emptied" in caplog.text
    assert slots.reload()[1].champion.model_version == challenger  # the folder and the pin agree
