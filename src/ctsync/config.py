"""Every setting ctsync reads, in one pydantic-settings object.

The object is built once (by the CLI or the app factory) and passed down; the
environment is not read again anywhere else.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_SQLITE_URL", "Settings"]

DEFAULT_SQLITE_URL = "sqlite:///ctsync.db"
_SNS_CERT_HOST = r"^sns\.[a-zA-Z0-9-]{3,}\.amazonaws\.com(\.cn)?$"


class Settings(BaseSettings):
    """ctsync's configuration, from environment variables (names as in DESIGN.md)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    segment_write_key: SecretStr | None = Field(default=None, validation_alias="SEGMENT_WRITE_KEY")
    segment_endpoint: str = Field(
        default="https://api.segment.io", validation_alias="SEGMENT_ENDPOINT"
    )
    database_url: str = Field(
        default=DEFAULT_SQLITE_URL,
        validation_alias=AliasChoices("DATABASE_URL", "POSTGRES_URL"),
    )
    # Neon's and Vercel Postgres' direct URL, next to the pooled DATABASE_URL: migrations.
    database_url_unpooled: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL_UNPOOLED", "POSTGRES_URL_NON_POOLING"),
    )

    ctp_project_key: str | None = Field(default=None, validation_alias="CTP_PROJECT_KEY")
    ctp_client_id: str | None = Field(default=None, validation_alias="CTP_CLIENT_ID")
    ctp_client_secret: SecretStr | None = Field(default=None, validation_alias="CTP_CLIENT_SECRET")
    ctp_auth_url: str | None = Field(default=None, validation_alias="CTP_AUTH_URL")
    ctp_api_url: str | None = Field(default=None, validation_alias="CTP_API_URL")
    ctp_scopes: str | None = Field(default=None, validation_alias="CTP_SCOPES")

    segment_public_api_token: SecretStr | None = Field(
        default=None, validation_alias="SEGMENT_PUBLIC_API_TOKEN"
    )
    segment_workspace: str | None = Field(default=None, validation_alias="SEGMENT_WORKSPACE")
    segment_public_api_url: str = Field(
        default="https://api.segmentapis.com", validation_alias="SEGMENT_PUBLIC_API_URL"
    )
    regulation_type: Literal[
        "SUPPRESS_WITH_DELETE", "SUPPRESS_ONLY", "DELETE_ONLY", "SUPPRESS_WITH_DELETE_INTERNAL"
    ] = Field(default="SUPPRESS_WITH_DELETE", validation_alias="CTSYNC_REGULATION_TYPE")
    regulation_poll_s: float = Field(
        default=60.0, gt=0, validation_alias="CTSYNC_REGULATION_POLL_S"
    )

    webhook_secret: SecretStr | None = Field(default=None, validation_alias="CTSYNC_WEBHOOK_SECRET")
    admin_token: SecretStr | None = Field(default=None, validation_alias="CTSYNC_ADMIN_TOKEN")
    cron_secret: SecretStr | None = Field(default=None, validation_alias="CRON_SECRET")
    mapping_path: Path | None = Field(default=None, validation_alias="CTSYNC_MAPPING")

    lease_s: float = Field(default=30.0, gt=0, validation_alias="CTSYNC_LEASE_S")
    retry_base_s: float = Field(default=1.0, gt=0, validation_alias="CTSYNC_RETRY_BASE_S")
    retry_cap_s: float = Field(default=3600.0, gt=0, validation_alias="CTSYNC_RETRY_CAP_S")
    retry_horizon_s: float = Field(default=97200.0, ge=0, validation_alias="CTSYNC_RETRY_HORIZON_S")
    sink_timeout_s: float = Field(default=10.0, gt=0, validation_alias="CTSYNC_SINK_TIMEOUT_S")
    rate_limit: float | None = Field(default=None, gt=0, validation_alias="CTSYNC_RATE_LIMIT")
    inline_delivery: bool | None = Field(default=None, validation_alias="CTSYNC_INLINE_DELIVERY")
    allow_unverified: bool = Field(default=False, validation_alias="CTSYNC_ALLOW_UNVERIFIED")
    retention_days: float = Field(default=30.0, gt=0, validation_alias="CTSYNC_RETENTION_DAYS")
    batch_size: int = Field(default=100, ge=1, le=2500, validation_alias="CTSYNC_BATCH_SIZE")
    drain_interval_s: float = Field(default=1.0, gt=0, validation_alias="CTSYNC_DRAIN_INTERVAL_S")
    inline_budget_s: float = Field(default=2.0, gt=0, validation_alias="CTSYNC_INLINE_BUDGET_S")
    store_timeout_s: float = Field(default=5.0, gt=0, validation_alias="CTSYNC_STORE_TIMEOUT_S")
    body_timeout_s: float = Field(default=10.0, gt=0, validation_alias="CTSYNC_BODY_TIMEOUT_S")
    fetch_settle_s: float = Field(default=5.0, ge=0, validation_alias="CTSYNC_FETCH_SETTLE_S")
    subscription_key: str = Field(default="ctsync", validation_alias="CTSYNC_SUBSCRIPTION_KEY")
    watchdog_interval_s: float = Field(
        default=300.0, gt=0, validation_alias="CTSYNC_WATCHDOG_INTERVAL_S"
    )
    watchdog_backfill: bool = Field(default=False, validation_alias="CTSYNC_WATCHDOG_BACKFILL")

    sns_verify: bool = Field(default=False, validation_alias="CTSYNC_SNS_VERIFY")
    sns_cert_host: str = Field(default=_SNS_CERT_HOST, validation_alias="CTSYNC_SNS_CERT_HOST")
    sns_topic_arns: str | None = Field(default=None, validation_alias="CTSYNC_SNS_TOPIC_ARN")
    pubsub_audience: str | None = Field(default=None, validation_alias="CTSYNC_PUBSUB_AUDIENCE")
    pubsub_service_account: str | None = Field(
        default=None, validation_alias="CTSYNC_PUBSUB_SERVICE_ACCOUNT"
    )
    pubsub_certs_url: str = Field(
        default="https://www.googleapis.com/oauth2/v1/certs",
        validation_alias="CTSYNC_PUBSUB_CERTS_URL",
    )

    vercel: bool = Field(default=False, validation_alias="VERCEL")
    log_level: str = Field(default="info", validation_alias="CTSYNC_LOG_LEVEL")
    sentry_dsn: SecretStr | None = Field(default=None, validation_alias="SENTRY_DSN")

    @field_validator("vercel", mode="before")
    @classmethod
    def _vercel_flag(cls, value: Any) -> bool:
        """Vercel sets ``VERCEL=1``; any non-empty value means we run there."""
        return bool(value) and str(value).lower() not in {"0", "false", "no"}

    @field_validator("sns_cert_host")
    @classmethod
    def _valid_pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            msg = f"CTSYNC_SNS_CERT_HOST is not a valid regular expression: {exc}"
            raise ValueError(msg) from exc
        return value

    @field_validator("mapping_path")
    @classmethod
    def _valid_mapping(cls, value: Path | None) -> Path | None:
        """A bad mapping file stops start-up here: never half-applied, never ignored."""
        if value is not None:
            from ctsync.mapping.file import MappingFileError, load_mapping  # noqa: PLC0415

            try:
                load_mapping(value)
            except MappingFileError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("segment_endpoint")
    @classmethod
    def _strip_endpoint(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("database_url_unpooled")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if not value:  # set but empty: as if unset
            return None
        if not value.startswith(("postgresql:", "postgres:", "postgresql+")):
            msg = "DATABASE_URL_UNPOOLED must start with postgresql:// or postgres://"
            raise ValueError(msg)
        return value

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgres:", "postgresql+")):
            msg = "DATABASE_URL must start with sqlite:///, postgresql:// or postgres://"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _send_fits_in_lease(self) -> Settings:
        """A send that outlasts its claim would let a second drainer send it meanwhile.

        Leases are renewed every third of CTSYNC_LEASE_S while a batch is in flight, so
        one request (bounded by the timeout) must fit in a lease with room to renew.
        """
        if self.sink_timeout_s >= self.lease_s:
            msg = (
                f"CTSYNC_SINK_TIMEOUT_S ({self.sink_timeout_s:g} s) must be shorter than "
                f"CTSYNC_LEASE_S ({self.lease_s:g} s): a send must fit in its lease"
            )
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _checks_that_keep_outsiders_out(self) -> Settings:
        """A sender check that any AWS account or Google identity could pass is refused."""
        missing = []
        if self.sns_verify and not self.sns_topics:
            missing.append(
                "CTSYNC_SNS_VERIFY=true needs CTSYNC_SNS_TOPIC_ARN (the topics allowed to post): "
                "without it any AWS account's topic is accepted and its subscription confirmed"
            )
        if self.pubsub_audience is not None and not (self.pubsub_service_account or "").strip():
            missing.append(
                "CTSYNC_PUBSUB_AUDIENCE needs CTSYNC_PUBSUB_SERVICE_ACCOUNT (the push "
                "subscription's service account): without it any Google-signed token for "
                "the audience is accepted"
            )
        if missing:
            raise ValueError("; ".join(missing))
        return self

    @property
    def sns_topics(self) -> frozenset[str]:
        """The topics of CTSYNC_SNS_TOPIC_ARN (separated by commas or spaces)."""
        return frozenset(a for a in re.split(r"[\s,]+", self.sns_topic_arns or "") if a)

    @property
    def unprotected(self) -> dict[str, str]:
        """The routes anyone who reaches the service may use, and why (CTSYNC_ALLOW_UNVERIFIED).

        Exposure is never inferred from the bind address: a service on loopback
        behind a proxy or sidecar is as reachable as one on 0.0.0.0.
        """
        if not self.allow_unverified:
            return {}
        found = {
            "/api/webhook": "no sender check (CTSYNC_WEBHOOK_SECRET, CTSYNC_SNS_VERIFY or "
            "CTSYNC_PUBSUB_AUDIENCE)",
            "/api/admin": "no CTSYNC_ADMIN_TOKEN",
            "/api/cron/drain": "no CRON_SECRET",
        }
        protected = {
            "/api/webhook": self.sender_check_configured,
            "/api/admin": self.admin_token is not None,
            "/api/cron/drain": self.cron_secret is not None,
        }
        return {route: why for route, why in found.items() if not protected[route]}

    @property
    def regulations_enabled(self) -> bool:
        """A deleted customer also gets a Segment deletion regulation (Public API)."""
        token = self.segment_public_api_token
        return bool(token and token.get_secret_value() and self.segment_workspace)

    @property
    def capture_mode(self) -> bool:
        """No write key: messages are stored and shown, never sent."""
        return self.segment_write_key is None or not self.segment_write_key.get_secret_value()

    @property
    def serverless(self) -> bool:
        """Deliver inline on the request path (the process is frozen after the response)."""
        if self.inline_delivery is not None:
            return self.inline_delivery
        return self.vercel

    @property
    def store_kind(self) -> Literal["sqlite", "postgres"]:
        return "sqlite" if self.database_url.startswith("sqlite:") else "postgres"

    @property
    def sender_check_configured(self) -> bool:
        return bool(
            self.webhook_secret is not None or self.sns_verify or self.pubsub_audience is not None
        )

    @property
    def ctp_configured(self) -> bool:
        return bool(self.ctp_project_key and self.ctp_client_id and self.ctp_client_secret)
