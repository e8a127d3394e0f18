"""Which handler delivers each outbox channel, given the credentials that are configured."""

from __future__ import annotations

from collections.abc import Mapping

from oncall.config import Settings
from oncall.integrations.console import Printer, console_handler
from oncall.outbox import Channel, Handler


def build_handlers(settings: Settings, *, printer: Printer | None = None) -> Mapping[str, Handler]:
    """Slack and PagerDuty go to the console until credentials for them are configured."""
    console = console_handler(printer)
    return {
        Channel.console: console,
        Channel.slack: console,
        Channel.pagerduty: console,
    }
