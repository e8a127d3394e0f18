"""Settings: the one place where environment variables are read."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com"

# Values copied from examples: running with them would expose the service.
_PLACEHOLDER_SECRETS = {"changethis", "changeme", "secret", "xoxb-your-token"}
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*):[^@\s]*@")


def hide_url_password(url: str) -> str:
    """`postgresql://u:pw@host/db` -> `postgresql://u:***@host/db`, for logs and repr."""
    return _URL_PASSWORD.sub(r"\1:***@", url)


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(BaseSettings):
    """Every environment variable the service reads (see README, "Configuration")."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str = Field("sqlite:///./oncall.db", validation_alias=_env("ONCALL_DATABASE_URL"))
    config: Path | None = Field(None, validation_alias=_env("ONCALL_CONFIG"))
    webhook_token: SecretStr | None = Field(None, validation_alias=_env("ONCALL_WEBHOOK_TOKEN"))
    public_url: str = Field("http://127.0.0.1:8080", validation_alias=_env("ONCALL_PUBLIC_URL"))
    max_body_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, validation_alias=_env("ONCALL_MAX_BODY_BYTES")
    )
    flap_window_seconds: int = Field(600, ge=0, validation_alias=_env("ONCALL_FLAP_WINDOW_SECONDS"))
    outbox_max_age_hours: float = Field(
        24, gt=0, validation_alias=_env("ONCALL_OUTBOX_MAX_AGE_HOURS")
    )

    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str = Field(DEFAULT_SLACK_API_URL, validation_alias=_env("ONCALL_SLACK_API_URL"))

    pagerduty_routing_key: SecretStr | None = Field(
        None, validation_alias=_env("PAGERDUTY_ROUTING_KEY")
    )
    pagerduty_events_url: str = Field(
        DEFAULT_PAGERDUTY_EVENTS_URL, validation_alias=_env("ONCALL_PAGERDUTY_EVENTS_URL")
    )
    pagerduty_webhook_secret: SecretStr | None = Field(
        None, validation_alias=_env("PAGERDUTY_WEBHOOK_SECRET")
    )

    prometheus_url: str | None = Field(None, validation_alias=_env("ONCALL_PROMETHEUS_URL"))
    prometheus_timeout_seconds: float = Field(
        3.0, gt=0, le=60, validation_alias=_env("ONCALL_PROMETHEUS_TIMEOUT_SECONDS")
    )
    prometheus_cache_seconds: float = Field(
        30.0, ge=0, validation_alias=_env("ONCALL_PROMETHEUS_CACHE_SECONDS")
    )
    ssl_cert_file: Path | None = Field(None, validation_alias=_env("SSL_CERT_FILE"))

    @field_validator(
        "webhook_token",
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "pagerduty_routing_key",
        "pagerduty_webhook_secret",
        mode="after",
    )
    @classmethod
    def _reject_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value().strip()
        if not raw:
            return None  # an empty variable means "not set"
        if raw.lower() in _PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder value copied from an example; set a real secret")
        return value

    @field_validator("pagerduty_events_url", mode="after")
    @classmethod
    def _https_only(cls, value: str) -> str:
        # The Events API client refuses anything else; say so at start, not at the first page.
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL (the PagerDuty client accepts only https)")
        return value.rstrip("/")

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # SecretStr hides tokens; URLs (database, Prometheus) may carry a password too.
        for name, value in super().__repr_args__():
            yield name, hide_url_password(value) if isinstance(value, str) else value

    @property
    def flap_window(self) -> timedelta:
        return timedelta(seconds=self.flap_window_seconds)

    @property
    def outbox_max_age(self) -> timedelta:
        return timedelta(hours=self.outbox_max_age_hours)

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def requests_verify(self) -> bool | str:
        """What `requests`-based clients pass as `verify` (they ignore SSL_CERT_FILE)."""
        return str(self.ssl_cert_file) if self.ssl_cert_file else True


_ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def env_reference(value: str | None) -> str | None:
    """The variable a catalog value such as `${PD_KEY_GROWTH}` names; None for a literal."""
    match = _ENV_REFERENCE.match(value.strip()) if value else None
    return match.group(1) if match else None


def environment_value(name: str) -> str | None:
    """A variable the catalog names (`${NAME}`), read when it is used; empty counts as unset."""
    value = os.environ.get(name, "").strip()
    return value or None


@lru_cache
def get_settings() -> Settings:
    return Settings()
