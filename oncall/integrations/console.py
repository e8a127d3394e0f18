"""The console channel: side effects written to the log instead of sent (no credentials, demo).

Rows delivered here are marked delivered via `console`, so nothing piles up in the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import Session, col
from sqlmodel import select as select_people_of

from oncall.catalog.models import Person
from oncall.clock import Clock, system_clock
from oncall.config import Settings
from oncall.incidents.models import Incident
from oncall.outbox import Channel, Claimed, Handler, MessageKind, PermanentDeliveryError

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


# One dispatcher: what each kind of message would have been, as a line.
_RENDER: dict[str, Callable[[Claimed, str], str]] = {
    MessageKind.post_incident: _post,
    MessageKind.update_incident: _update,
    MessageKind.thread_message: _thread,
    MessageKind.trigger: _page,
    MessageKind.acknowledge: _page,
    MessageKind.resolve: _page,
}


# Slack kinds shown as the message would look; other kinds keep their line in `_RENDER`
# (which may leave out what must not reach a log, such as a calendar feed's secret link).
_AS_MESSAGE = frozenset(
    {MessageKind.post_incident, MessageKind.update_incident, MessageKind.thread_message}
)


def _slack_rendition(
    session: Session, message: Claimed, settings: Settings, clock: Clock
) -> list[str] | None:
    """A Slack row as the message would look: `Slack C…: post` and the message's lines
    (blocks and buttons as text); None when a later row supersedes it (coalesced)."""
    from oncall.integrations.slack.delivery import SENDERS, Context, thread_text
    from oncall.integrations.slack.rendition import message_lines, mrkdwn_to_text

    names = {
        p.slack_user: p.name
        for p in session.exec(select_people_of(Person).where(col(Person.slack_user).is_not(None)))
        if p.slack_user
    }
    incident = session.get(Incident, message.incident_id) if message.incident_id else None
    if message.kind == MessageKind.thread_message and incident is not None:
        # The console posts nothing, so there is no thread: show the reply itself.
        text = mrkdwn_to_text(thread_text(session, incident, message.payload), names)
        return [f"Slack {incident.slack_channel or '(no channel)'}: thread {text}"]
    sender = SENDERS.get(message.kind)
    if sender is None:
        return [describe(session, message)]
    try:
        call = sender(session, message, Context(settings=settings, now=clock()))
    except PermanentDeliveryError as exc:
        return [f"Slack: {message.kind} not sent: {exc}"]
    if call.skip is not None:
        return None
    verb = {"chat.postMessage": "post", "chat.update": "update"}.get(call.method, call.method)
    if call.thread_of is not None or "thread_ts" in call.args:
        verb = "thread"
    elif message.kind == MessageKind.update_incident and verb == "post":
        verb = "update"
    return [f"Slack {call.channel or '(no channel)'}: {verb}", *message_lines(call.args, names)]


def describe(session: Session, message: Claimed) -> str:
    """One readable line: what would have been sent, and where."""
    incident = (
        session.connection().execute(_INCIDENT_LINE, {"incident_id": message.incident_id}).first()
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
) -> Handler:
    """Render while the row is claimed; print (or log) when it is sent.

    Slack rows are shown as the message would look (a text rendition of its blocks); the
    printer gets them over several indented lines, the log on one line (`|` between)."""
    shown = settings or Settings()

    def render(session: Session, message: Claimed) -> list[str] | None:
        if message.channel == Channel.slack and message.kind in _AS_MESSAGE:
            lines = _slack_rendition(session, message, shown, clock)
        else:
            lines = [describe(session, message)]
        # Alert text must not be able to forge lines of its own.
        return [_safe(line) for line in lines] if lines is not None else None

    def send(message: Claimed) -> Mapping[str, Any]:
        lines = message.rendered
        if lines is None:
            return {"console": True, "skipped": "superseded by a later update"}
        if printer is not None:
            printer("\n    | ".join(lines))
        else:
            log.info("%s (console: no credentials configured)", " | ".join(lines))
        return {"console": True}

    return Handler(send=send, render=render, name="console", local=True)
