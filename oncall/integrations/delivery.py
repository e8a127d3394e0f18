"""Which handler delivers each outbox channel, given the credentials that are configured."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.engine import Engine

from oncall.clock import Clock, system_clock
from oncall.config import Settings
from oncall.integrations.console import Printer, console_handler
from oncall.outbox import Channel, Handler


def build_handlers(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock = system_clock,
    printer: Printer | None = None,
) -> Mapping[str, Handler]:
    """Slack goes to the Web API when SLACK_BOT_TOKEN is set (it needs the `engine` to read
    a message's stored ts), else to the console, like PagerDuty until its key is set."""
    console = console_handler(printer, settings=settings, clock=clock)
    slack = console
    if settings.slack_enabled:
        from oncall.integrations.slack.delivery import slack_handler

        if engine is None:
            raise ValueError("the Slack handler needs the database engine")
        slack = slack_handler(settings, engine=engine, clock=clock)
    return {
        Channel.console: console,
        Channel.slack: slack,
        Channel.pagerduty: console,
    }
