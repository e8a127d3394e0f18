"""The console channel: side effects written to the log instead of sent (no credentials, demo).

Rows delivered here are marked delivered via `console`, so nothing piles up in the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import Session

from oncall.db import DriverQuery
from oncall.incidents.models import Incident
from oncall.outbox import Claimed, Handler, MessageKind

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


# One dispatcher: what each kind of message would have been, as a line.
_RENDER: dict[str, Callable[[Claimed, str], str]] = {
    MessageKind.post_incident: _post,
    MessageKind.update_incident: _update,
    MessageKind.thread_message: _thread,
    MessageKind.trigger: _page,
    MessageKind.acknowledge: _page,
    MessageKind.resolve: _page,
}


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


def console_handler(printer: Printer | None = None) -> Handler:
    """Render while the row is claimed; print (or log) when it is sent."""

    def render(session: Session, message: Claimed) -> str:
        # One log line per message: alert text must not be able to forge more lines.
        return describe(session, message).replace("\r", "\\r").replace("\n", "\\n")

    def send(message: Claimed) -> Mapping[str, Any]:
        if printer is not None:
            printer(str(message.rendered))
        else:
            log.info("%s (console: no credentials configured)", message.rendered)
        return {"console": True}

    return Handler(send=send, render=render, name="console", local=True)
