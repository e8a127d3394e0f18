"""The console channel: side effects written to the log instead of sent (no credentials, demo).

Rows delivered here are marked delivered via `console`, so nothing piles up in the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select
from sqlmodel import Session, col
from sqlmodel import select as select_people_of

from oncall.catalog.models import Person
from oncall.clock import Clock, system_clock
from oncall.config import Settings
from oncall.db import DriverQuery
from oncall.incidents.models import Incident
from oncall.outbox import (
    Channel,
    Claimed,
    DeferredDelivery,
    Handler,
    MessageKind,
    PermanentDeliveryError,
)

if TYPE_CHECKING:
    from oncall.integrations.slack.delivery import Context, Target

log = logging.getLogger("oncall.console")

Printer = Callable[[str], None]


_INCIDENTS = Incident.__table__  # type: ignore[attr-defined]
# Only what the line shows, as plain columns (rendered for every message while it is claimed).
_INCIDENT_LINE = select(
    _INCIDENTS.c.id,
    _INCIDENTS.c.severity,
    _INCIDENTS.c.title,
    _INCIDENTS.c.status,
    _INCIDENTS.c.acknowledged_by,
    _INCIDENTS.c.assignee_id,
).where(_INCIDENTS.c.id == bindparam("incident_id"))
_INCIDENT_LINE_QUERY = DriverQuery(_INCIDENT_LINE)  # on SQLite, the driver's cursor


def _incident_line(incident: Any) -> str:
    who = incident.acknowledged_by or incident.assignee_id or "nobody on call"
    return (
        f"#{incident.id} [{incident.severity.upper()}] {incident.title} "
        f"({incident.status}; {'acked by' if incident.acknowledged_by else 'on call:'} {who})"
    )


def _where(message: Claimed) -> str:
    return f"Slack {message.payload.get('channel') or '(no channel)'}"


def _post(message: Claimed, about: str) -> str:
    return f"{_where(message)}: post   {about}"


def _update(message: Claimed, about: str) -> str:
    return f"{_where(message)}: update {about} [{message.payload.get('reason', '')}]"


def _thread(message: Claimed, _about: str) -> str:
    p = message.payload
    mention = " ".join(f"@{m}" for m in p.get("mention", []))
    here = "@here " if p.get("here") else ""
    return f"{_where(message)}: thread {here}{mention} {p.get('text', '')}".rstrip()


def _page(message: Claimed, _about: str) -> str:
    p = message.payload
    return (
        f"PagerDuty: {p.get('event_action')} dedup_key={p.get('dedup_key')} "
        f"severity={p.get('severity')} summary={str(p.get('summary', ''))[:120]!r}"
    )


def _people(ids: Any) -> str:
    return ", ".join(f"@{p}" for p in ids or []) or "nobody"


def _notice(message: Claimed, _about: str) -> str:
    p = message.payload
    if p.get("topic") == "override":
        return (
            f"{_where(message)}: notice {p.get('rotation_id')}: override, @{p.get('person')} "
            f"covers {p.get('start')} to {p.get('end')} (set by @{p.get('by')})"
        )
    if p.get("topic") == "swap":
        return (
            f"{_where(message)}: notice {p.get('rotation_id')}: swap, @{p.get('person')} takes "
            f"the shift of {p.get('start')} from @{p.get('was')}"
        )
    open_ = ", ".join(f"#{i.get('id')}" for i in p.get("incidents") or []) or "none"
    return (
        f"{_where(message)}: notice hand-off of {p.get('rotation_id')}: "
        f"@{p.get('incoming') or 'nobody'} now on call (was @{p.get('outgoing') or 'nobody'}); "
        f"open incidents: {open_}"
    )


_DM_TOPICS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "handoff": lambda p: f"you are now on call for {p.get('rotation_id')}",
    # The link is a secret: the console shows that it was sent, never the token.
    "calendar": lambda p: "your personal calendar feed link (not shown here)",
    "swap_request": lambda p: (
        f"@{p.get('asker')} asks you to take their {p.get('rotation_id')} shift of "
        f"{p.get('shift_start')} [Take it] [Decline]"
    ),
    "swap_taken": lambda p: f"@{p.get('by')} took your shift (swap {p.get('swap_id')})",
    "swap_declined": lambda p: f"@{p.get('by')} declined swap {p.get('swap_id')}",
    "swap_gone": lambda p: f"too late: @{p.get('by')} took that shift",
}


def _direct(message: Claimed, _about: str) -> str:
    p = message.payload
    topic = _DM_TOPICS.get(str(p.get("topic")))
    return f"Slack DM @{p.get('person')}: " + (topic(p) if topic else str(p.get("topic")))


def _usergroup(message: Claimed, _about: str) -> str:
    p = message.payload
    people = _people(p.get("people"))
    return f"Slack user group {p.get('usergroup')} ({p.get('rotation_id')}) := {people}"


def _home(message: Claimed, _about: str) -> str:
    return f"Slack App Home of @{message.payload.get('person')} refreshed"


# One dispatcher: what each kind of message would have been, as a line.
_RENDER: dict[str, Callable[[Claimed, str], str]] = {
    MessageKind.post_incident: _post,
    MessageKind.update_incident: _update,
    MessageKind.thread_message: _thread,
    MessageKind.trigger: _page,
    MessageKind.acknowledge: _page,
    MessageKind.resolve: _page,
    MessageKind.channel_notice: _notice,
    MessageKind.direct_message: _direct,
    MessageKind.usergroup_update: _usergroup,
    MessageKind.home_refresh: lambda m, _about: (
        f"Slack App Home of @{m.payload.get('person')} refreshed"
    ),
}


# Slack kinds shown as the message would look; other kinds keep their line in `_RENDER`
# (which may leave out what must not reach a log, such as a calendar feed's secret link).
_AS_MESSAGE = frozenset(
    {MessageKind.post_incident, MessageKind.update_incident, MessageKind.thread_message}
)


def _names(session: Session) -> dict[str, str]:
    """Slack user id to name, for mentions shown as text."""
    return {
        p.slack_user: p.name
        for p in session.exec(select_people_of(Person).where(col(Person.slack_user).is_not(None)))
        if p.slack_user
    }


@dataclass(frozen=True)
class _Shown:
    """What a row prints, and which message it shows (for the coalescing window)."""

    lines: list[str] | None
    target: Target | None = None


def _slack_rendition(
    session: Session, message: Claimed, ctx: Context
) -> tuple[list[str] | None, Target | None]:
    """A Slack row as the message would look: `Slack C…: post` and the message's lines
    (blocks and buttons as text), and the message it shows; no lines when a later row
    supersedes it (coalesced). DeferredDelivery when the message is inside its window."""
    from oncall.integrations.slack.delivery import SENDERS, thread_text
    from oncall.integrations.slack.rendition import message_lines, mrkdwn_to_text

    if message.kind == MessageKind.thread_message:
        incident = session.get(Incident, message.incident_id) if message.incident_id else None
        if incident is not None:
            # The console posts nothing, so there is no thread: show the reply itself.
            text = mrkdwn_to_text(thread_text(session, incident, message.payload), _names(session))
            return [f"Slack {incident.slack_channel or '(no channel)'}: thread {text}"], None
    sender = SENDERS.get(message.kind)
    if sender is None:
        return [describe(session, message)], None
    try:
        call = sender(session, message, ctx)
    except PermanentDeliveryError as exc:
        return [f"Slack: {message.kind} not sent: {exc}"], None
    if call.skip is not None:  # a later row shows the same message: nothing more to read
        return None, None
    names = _names(session)
    verb = {"chat.postMessage": "post", "chat.update": "update"}.get(call.method, call.method)
    if call.thread_of is not None or "thread_ts" in call.args:
        verb = "thread"
    elif message.kind == MessageKind.update_incident and verb == "post":
        verb = "update"
    lines = [f"Slack {call.channel or '(no channel)'}: {verb}", *message_lines(call.args, names)]
    return lines, call.ts_of


def describe(session: Session, message: Claimed) -> str:
    """One readable line: what would have been sent, and where."""
    incident = (
        _INCIDENT_LINE_QUERY.first(session.connection(), {"incident_id": message.incident_id})
        if message.incident_id is not None
        else None
    )
    about = _incident_line(incident) if incident else ""
    render = _RENDER.get(message.kind)
    if render is not None:
        return render(message, about)
    return f"{message.channel}: {message.kind} {about}"


def _safe(line: str) -> str:
    return line.replace("\r", "\\r").replace("\n", "\\n")


def console_handler(
    printer: Printer | None = None,
    *,
    settings: Settings | None = None,
    clock: Clock = system_clock,
    coalesce: timedelta | None = None,
) -> Handler:
    """Render while the row is claimed; print (or log) when it is sent.

    Slack rows are shown as the message would look (a text rendition of its blocks); the
    printer gets them over several indented lines, the log on one line (`|` between).
    With `coalesce` (what `oncall serve` uses), a Slack message is shown at most once in that
    window, with its latest state once the window is over, as the Slack handler sends it: a
    storm of a thousand incidents is a few renditions of its storm message, not a thousand.
    Without it (the demo, on a frozen clock), every change is shown."""
    from oncall.integrations.slack.delivery import Coalescer, Context

    shown = settings or Settings()
    coalescer = Coalescer(clock, coalesce) if coalesce is not None else None

    def render(session: Session, message: Claimed) -> _Shown | Exception:
        target: Target | None = None
        if message.channel == Channel.slack and message.kind in _AS_MESSAGE:
            ctx = Context(settings=shown, now=clock(), coalescer=coalescer)
            try:
                lines, target = _slack_rendition(session, message, ctx)
            except DeferredDelivery as exc:
                return exc  # raised in `send`: the outbox defers the row
        else:
            lines = [describe(session, message)]
        # Alert text must not be able to forge lines of its own.
        return _Shown([_safe(line) for line in lines] if lines is not None else None, target)

    def send(message: Claimed) -> Mapping[str, Any]:
        rendered = message.rendered
        if isinstance(rendered, Exception):
            raise rendered
        assert isinstance(rendered, _Shown)
        if rendered.lines is None:
            return {"console": True, "skipped": "superseded by a later update"}
        if coalescer is not None and rendered.target is not None:
            coalescer.hold(rendered.target)  # shown by an earlier row of this batch
            coalescer.sent(rendered.target)
        if printer is not None:
            printer("\n    | ".join(rendered.lines))
        else:
            log.info("%s (console: no credentials configured)", " | ".join(rendered.lines))
        return {"console": True}

    return Handler(send=send, render=render, name="console", local=True)
