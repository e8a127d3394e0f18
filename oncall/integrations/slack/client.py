"""The Slack Web API client, built once from Settings (base URL, token, CA bundle)."""

from __future__ import annotations

import ssl

from slack_sdk import WebClient

from oncall.config import Settings

# One bounded attempt per call: the outbox does the retrying and the backoff.
TIMEOUT_SECONDS = 5


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """Certificates from SSL_CERT_FILE when set (corporate CAs, local test stubs)."""
    if settings.ssl_cert_file is not None:
        return ssl.create_default_context(cafile=str(settings.ssl_cert_file))
    return ssl.create_default_context()


def web_client(settings: Settings) -> WebClient:
    """A WebClient for `ONCALL_SLACK_API_URL` with the bot token; no built-in retries."""
    if settings.slack_bot_token is None:
        raise ValueError("SLACK_BOT_TOKEN is not set")
    base_url = settings.slack_api_url
    if not base_url.endswith("/"):
        base_url += "/"
    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=base_url,
        timeout=TIMEOUT_SECONDS,
        ssl=ssl_context(settings),
        retry_handlers=[],
    )
