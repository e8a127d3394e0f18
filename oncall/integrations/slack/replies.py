"""What the bot answers a person: refusals and the 'how to be added' answer.

The errors domain code raises are mapped here once for Slack (as `oncall.app` maps them for
HTTP and `oncall.commands.common` for the command line): a polite ephemeral sentence with the
reason; anything else is logged with its stack trace and the person sees only that it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from sqlmodel import Session

from oncall.errors import Conflict, DomainError, InvalidRequest, NotAllowed, UnknownEntity
from oncall.integrations.slack.bot import Bot, NotInCatalog
from oncall.integrations.slack.text import escape

log = logging.getLogger(__name__)

T = TypeVar("T")

SOMETHING_WENT_WRONG = (
    ":x: Something went wrong on our side; it was logged. Please try again in a moment."
)


def _first_upper(text: str) -> str:
    """A sentence's first letter in capitals; ids inside it stay as they are."""
    return text[:1].upper() + text[1:]


def not_in_catalog(slack_user: str) -> str:
    return (
        ":wave: I don't know you yet: no person in the on-call catalog has your Slack user "
        f"id `{escape(slack_user)}`. Ask your team lead to add you to `oncall.yaml`, e.g.\n"
        f"```people:\n  - {{id: your-id, name: Your Name, slack_user: {escape(slack_user)}, "
        "timezone: Europe/Berlin}```\nthen `oncall config apply oncall.yaml`."
    )


def refusal(exc: BaseException, *, usage: str | None = None) -> str:
    """The sentence a person sees for a refused or failed request; a bad argument is
    followed by the right usage."""
    if usage and isinstance(exc, InvalidRequest):
        return refusal(exc) + f"\nUsage: `{usage}`"
    if isinstance(exc, NotInCatalog):
        return not_in_catalog(exc.slack_user)
    if isinstance(exc, NotAllowed):
        return f":no_entry: Sorry, {escape(str(exc))}."
    if isinstance(exc, UnknownEntity):
        return f":mag: {_first_upper(escape(str(exc)))}."
    if isinstance(exc, InvalidRequest):
        return f":warning: That can't be done: {escape(str(exc))}."
    if isinstance(exc, Conflict):
        return f":information_source: {_first_upper(escape(str(exc)))}."
    if isinstance(exc, DomainError):
        return f":warning: {escape(str(exc))}"
    log.error("Slack request failed", exc_info=exc)
    return SOMETHING_WENT_WRONG


def answer(
    bot: Bot,
    slack_user: str | None,
    work: Callable[[Session, str], str],
    *,
    usage: str | None = None,
) -> str:
    """Run `work(session, person_id)` in one transaction for the catalog person behind
    `slack_user`; its text, or the refusal (nothing is committed then)."""
    try:
        with bot.transaction() as session:
            person_id = bot.person_id(session, slack_user)
            return work(session, person_id)
    except Exception as exc:
        return refusal(exc, usage=usage)
