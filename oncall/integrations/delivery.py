"""Which handler delivers each outbox channel, given the credentials that are configured."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from oncall.clock import Clock, system_clock
from oncall.config import Settings
from oncall.integrations.console import Printer, console_handler
from oncall.outbox import Channel, Handler

log = logging.getLogger(__name__)


def pagerduty_configured(settings: Settings, engine: Engine | None) -> bool:
    """PAGERDUTY_ROUTING_KEY, or a team of the catalog (in `engine`) whose key resolves."""
    if settings.pagerduty_routing_key is not None:
        return True
    if engine is None:
        return False
    from oncall.catalog.routing_keys import any_key_configured

    try:
        with Session(engine) as session:
            return any_key_configured(session=session, settings=settings)
    except SQLAlchemyError as exc:
        log.warning("cannot read the teams' PagerDuty routing keys (%s)", type(exc).__name__)
        return False


def build_handlers(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock = system_clock,
    printer: Printer | None = None,
) -> Mapping[str, Handler]:
    """Slack goes to the Web API when SLACK_BOT_TOKEN is set (it needs the `engine` to read
    a message's stored ts), else to the console. PagerDuty goes to the Events API once any
    routing key is configured (a team without one still goes to the console, with a line
    saying so)."""
    from oncall.integrations.slack.delivery import COALESCE

    # Changes to one message shown once per window, as Slack would get them.
    console = console_handler(printer, settings=settings, clock=clock, coalesce=COALESCE)
    slack = console
    if settings.slack_enabled:
        from oncall.integrations.slack.delivery import slack_handler

        if engine is None:
            raise ValueError("the Slack handler needs the database engine")
        slack = slack_handler(settings, engine=engine, clock=clock)
    pagerduty = console
    if pagerduty_configured(settings, engine):
        from oncall.integrations.pagerduty import pagerduty_handler

        pagerduty = pagerduty_handler(settings, printer=printer)
    return {
        Channel.console: console,
        Channel.slack: slack,
        Channel.pagerduty: pagerduty,
    }
