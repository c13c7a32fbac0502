"""Service settings, read once from the environment (see CONVENTIONS.md for the shared names)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, computed_field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fastapi_plumbing.database import sqlalchemy_url
from fastapi_plumbing.internal_token import DEV_INTERNAL_TOKEN, check_internal_token_setting
from fastapi_plumbing.secret_files import read_secret_files

REPO_ROOT = Path(__file__).resolve().parents[3]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    ENVIRONMENT: Literal["development", "test", "production"] = "development"
    APP_VERSION: str = "dev"  # set by the image build
    DATA_DIR: Path = REPO_ROOT / "data"
    DATABASE_URL: str | None = None
    LOG_FORMAT: Literal["text", "json"] = "text"
    LOG_LEVEL: str = "INFO"

    # Token verification (tokens are signed by the auth service, checked here against its JWKS).
    AUTH_JWKS_URL: str = "http://127.0.0.1:8000/api/auth/jwks/"
    JWT_ISSUER: str = "detec-fraude-auth"
    JWT_AUDIENCE: str = "detec-fraude-api"
    JWT_LEEWAY_SECONDS: int = Field(default=30, ge=0, le=300)
    JWKS_CACHE_SECONDS: float = Field(default=600, gt=0)
    # An unknown kid triggers a refetch at most this often, so forged kids cannot flood the auth service.
    JWKS_MIN_REFETCH_SECONDS: float = Field(default=10, ge=0)
    JWKS_FETCH_TIMEOUT_SECONDS: float = Field(default=3, gt=0)
    # Verified access tokens remembered (about 1 KB each), so a reused token skips the RSA check; 0: off.
    ACCESS_TOKEN_CACHE_SIZE: int = Field(default=10_000, ge=0)

    # Fraud service client.
    FRAUD_SERVICE_URL: str = "http://127.0.0.1:8002"
    INTERNAL_TOKEN: str = DEV_INTERNAL_TOKEN
    FRAUD_FALLBACK_POLICY: str = "block"
    FRAUD_CONNECT_TIMEOUT_SECONDS: float = Field(default=0.5, gt=0)
    FRAUD_READ_TIMEOUT_SECONDS: float = Field(default=2.0, gt=0)
    FRAUD_DEADLINE_SECONDS: float = Field(default=3.0, gt=0)
    FRAUD_RETRY_BACKOFF_SECONDS: float = Field(default=0.2, ge=0)
    FRAUD_BREAKER_FAILURE_THRESHOLD: int = Field(default=5, ge=1)
    FRAUD_BREAKER_RESET_SECONDS: float = Field(default=30, gt=0)
    # Dynamic batching (app/clients/fraud_batches.py): at most FRAUD_CALLS_IN_FLIGHT scoring calls per process;
    # captures arriving while all are busy go together, up to FRAUD_BATCH_MAX, in one /predict/batch call once
    # FRAUD_BATCH_MIN are queued (a shorter queue sends its oldest alone). On by default: at the maximum rate
    # it cut both services' CPU per capture by a quarter, and a lone capture takes /predict as before
    # (docs/performance.md, "Dynamic batching of the fraud calls").
    FRAUD_BATCHING: Literal["on", "off"] = "on"
    # 1: what queues behind one call goes as one longer batch, where 2 calls split it in two shorter ones (and
    # on PostgreSQL their transactions queued on the same customers' day rows): ~12 % less CPU per capture on
    # SQLite, 20-30 % on PostgreSQL, no worse latency (docs/performance.md, "One scoring call in flight").
    FRAUD_CALLS_IN_FLIGHT: int = Field(default=1, ge=1)
    # 16: the fraud service scores a batch of up to 16 rows row by row, as /predict does (its IN_TURN_MAX); a
    # longer one takes its bulk path, which reads each customer's last hour, a read that grows with a busy
    # customer's rate: a backlog then made batches longer and slower (docs/performance.md, "Batches past 16").
    FRAUD_BATCH_MAX: int = Field(default=16, ge=2, le=1000)  # the fraud service's MAX_BATCH_SIZE is 1000
    FRAUD_BATCH_MIN: int = Field(default=2, ge=2, le=1000)

    # Capture rules.
    MAX_AMOUNT: Decimal = Field(default=Decimal("1000000"), gt=0)
    MAX_BODY_BYTES: int = Field(default=16 * 1024, ge=256)
    IDEMPOTENCY_TTL_HOURS: float = Field(default=24, gt=0)
    # Per user and process: this many a minute, all of them at once at most; 0: no limit.
    RATE_LIMIT_CAPTURES_PER_MINUTE: int = Field(default=120, ge=0)
    RATE_LIMIT_LISTINGS_PER_MINUTE: int = Field(default=120, ge=0)

    # Review band: an APPROVED transaction with a risk score at or above this (and below the block threshold,
    # risk 0.5) enters the analyst console's queue. 0.23: ~1.5 % of approved traffic on the default simulation.
    # The fraud service reads the same variable to word specific reasons from there on; its default is
    # ml_model.reasons.REVIEW_BAND_FROM_RISK (this image has no ml_model: tests/test_settings.py checks equal).
    REVIEW_THRESHOLD: float = Field(default=0.23, ge=0, lt=0.5)
    # The auth service's API, for the console's login and token refresh; default: beside AUTH_JWKS_URL.
    AUTH_API_URL: str | None = None
    # How long the console's login, refresh and logout wait for the auth service's answer.
    AUTH_TIMEOUT_SECONDS: float = Field(default=10, gt=0)

    # Background maintenance: feedback outbox delivery, stale PENDING rescue, expired key purge.
    MAINTENANCE_INTERVAL_SECONDS: float = Field(default=5, gt=0)
    FEEDBACK_RETRY_BASE_SECONDS: float = Field(default=2, gt=0)
    FEEDBACK_RETRY_MAX_SECONDS: float = Field(default=300, gt=0)
    # A row still PENDING after this long was abandoned (process died mid-call) and is re-scored.
    PENDING_RESCUE_AFTER_SECONDS: float = Field(default=60, gt=0)

    @field_validator("FRAUD_FALLBACK_POLICY")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        from app.services.fallback import FallbackPolicy

        FallbackPolicy.parse(value)  # raises ValueError with the accepted forms
        return value

    @field_validator("REVIEW_THRESHOLD")
    @classmethod
    def _whole_risk_bucket(cls, value: float) -> float:
        # The what-if counts labelled transactions per 0.001 of risk score, so a threshold sits on a bucket edge.
        if round(value, 3) != value:
            raise ValueError("must have at most 3 decimals (e.g. 0.23)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        return read_secret_files(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Settings:
        check_internal_token_setting(self.INTERNAL_TOKEN, self.ENVIRONMENT)
        if self.PENDING_RESCUE_AFTER_SECONDS <= self.FRAUD_DEADLINE_SECONDS:
            raise ValueError("PENDING_RESCUE_AFTER_SECONDS must exceed FRAUD_DEADLINE_SECONDS")
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def AUTH_API_BASE_URL(self) -> str:
        if self.AUTH_API_URL:
            return self.AUTH_API_URL.rstrip("/") + "/"
        return self.AUTH_JWKS_URL.rstrip("/").removesuffix("jwks") or self.AUTH_JWKS_URL

    @computed_field  # type: ignore[prop-decorator]
    @property
    def SQLALCHEMY_DATABASE_URL(self) -> str:
        if self.DATABASE_URL:
            return sqlalchemy_url(self.DATABASE_URL)
        return f"sqlite:///{self.DATA_DIR / 'transactions.sqlite3'}"


settings = Settings()
