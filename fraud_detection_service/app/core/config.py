"""Service settings, read once from the environment (names shared across services: CONVENTIONS.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi_plumbing.database import sqlalchemy_url
from fastapi_plumbing.internal_token import DEV_INTERNAL_TOKEN, check_internal_token_setting
from fastapi_plumbing.secret_files import read_secret_files
from pydantic import Field, computed_field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ml_model.reasons import REVIEW_BAND_FROM_RISK

REPO_ROOT = Path(__file__).resolve().parents[3]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore")

    ENVIRONMENT: Literal["development", "test", "production"] = "development"
    DATA_DIR: Path = REPO_ROOT / "data"
    DATABASE_URL: str | None = None
    MODEL_DIR: Path = REPO_ROOT / "ml_model" / "models"
    # A second model scored in shadow (app/services/shadow.py); unset, or a folder without a model, means none.
    CHALLENGER_MODEL_DIR: Path | None = None
    # The training report (model_card.md and its plots) of the model in MODEL_DIR; default: `reports`
    # beside MODEL_DIR, where ml_model/train_model.py writes it. Served only if the card names that model.
    MODEL_REPORT_DIR: Path | None = None
    # SHA-256 of MODEL_DIR/model_metadata.json, set from outside the folder (Compose/Kubernetes config):
    # the metadata holds the other files' digests, so this pins the whole artifact set.
    MODEL_METADATA_SHA256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    INTERNAL_TOKEN: str = DEV_INTERNAL_TOKEN
    LOG_FORMAT: Literal["text", "json"] = "text"
    LOG_LEVEL: str = "INFO"
    # A batch of 1000 transactions is ~200 KB of JSON; anything far above that is not a client of ours.
    MAX_BODY_BYTES: int = Field(default=1_048_576, gt=0)
    MAX_BATCH_SIZE: int = Field(default=1000, gt=0)
    # Drift monitoring (app/services/drift.py): PSI over the last DRIFT_WINDOW predictions, once there are at least
    # DRIFT_MIN_SAMPLES of them.
    # Terminal day totals: appended changes are folded into the totals this often (app/services/terminal_totals.py).
    TERMINAL_FOLD_SECONDS: float = Field(default=1.0, gt=0)
    # Set by start.sh when WORKERS > 1 (fastapi_plumbing/workers.sh): the folder this server's workers share.
    WORKERS_SHARED_DIR: Path | None = None
    # How often each worker checks whether another one reloaded or promoted (app/services/model_sync.py).
    MODEL_SYNC_SECONDS: float = Field(default=0.5, gt=0)
    DRIFT_WINDOW: int = Field(default=10_000, ge=100)
    DRIFT_MIN_SAMPLES: int = Field(default=500, ge=1)
    # At most this many reasons (groups of features that pushed the score up most) per decision.
    MAX_REASONS: int = Field(default=3, ge=0)
    # The review band's start, the transaction service's variable of the same name: an APPROVED payment at or
    # above this risk is queued for an analyst there and explained here; under it, "no risk factor stands out".
    REVIEW_THRESHOLD: float = Field(default=REVIEW_BAND_FROM_RISK, ge=0, lt=0.5)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def database_url(self) -> str:
        if self.DATABASE_URL:
            return sqlalchemy_url(self.DATABASE_URL)
        return f"sqlite:///{self.DATA_DIR / 'fraud.sqlite3'}"

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        return read_secret_files(data) if isinstance(data, dict) else data

    @field_validator("MODEL_METADATA_SHA256", mode="before")
    @classmethod
    def _empty_pin_is_no_pin(cls, value: object) -> object:
        # Compose passes "${MODEL_METADATA_SHA256:-}": an empty value means "not pinned".
        return value.strip() or None if isinstance(value, str) else value

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Settings:
        check_internal_token_setting(self.INTERNAL_TOKEN, self.ENVIRONMENT)
        return self


settings = Settings()
