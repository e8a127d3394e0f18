"""The bot's own outbox kinds, rendered and sent to Slack: channel notices (hand-offs), direct
messages (hand-off, swap requests and answers, the calendar link) and user group updates.

Payloads name people by catalog id; `render` turns them into Slack user ids and text while the
row is claimed; the Slack channel's handler (`delivery.py`) makes the one Web API call with
its pacing and error rules; `recorded` forgets what must not stay in the database once sent
(a calendar link is a secret). `RENDERERS` and `RECORDED` map each kind to its function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session

from oncall.catalog.models import Person, Rotation
from oncall.integrations.slack.actions import Action
from oncall.integrations.slack.text import escape, person_mention
from oncall.outbox import (
    OUTBOX,
    Claimed,
    MessageKind,
    PermanentDeliveryError,
)

SlackCall = dict[str, Any]  # {"method": "chat.postMessage", "args": {...}}


def _person(session: Session, person_id: str | None) -> Person | None:
    return session.get(Person, person_id) if person_id else None


def _mention(session: Session, person_id: str | None) -> str:
    return person_mention(_person(session, person_id), person_id)


def _slack_user(session: Session, person_id: str | None) -> str:
    person = _person(session, person_id)
    if person is None or not person.slack_user:
        raise PermanentDeliveryError(
            f"person {person_id!r} has no slack_user in oncall.yaml; nothing to send to"
        )
    return person.slack_user


def _local(session: Session, person_id: str | None, when: str) -> str:
    person = _person(session, person_id)
    instant = datetime.fromisoformat(when)
    zone = person.timezone if person else "UTC"
    return f"{instant.astimezone(ZoneInfo(zone)):%a %d %b %H:%M} ({zone})"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def handoff_text(session: Session, p: Mapping[str, Any], *, you: bool = False) -> str:
    incoming = "You are" if you else f"{_mention(session, p.get('incoming'))} is"
    lines = [
        f":arrows_counterclockwise: *{escape(str(p.get('rotation_id')))}*: {incoming} now on "
        f"call (was {_mention(session, p.get('outgoing'))})."
    ]
    incidents = list(p.get("incidents") or [])
    if incidents:
        lines.append(f"Still open ({len(incidents)}):")
        lines += [
            f"• #{i.get('id')} *{str(i.get('severity', '')).upper()}* "
            f"{escape(str(i.get('title', '')))}"
            for i in incidents[:20]
        ]
        if len(incidents) > 20:
            lines.append(f"…and {len(incidents) - 20} more")
    else:
        lines.append("No incidents are open.")
    return "\n".join(lines)


def _swap_shift(session: Session, p: Mapping[str, Any], person_id: str | None) -> str:
    start = p.get("shift_start")
    when = _local(session, person_id, start) if start else "a shift"
    return f"{when} of *{escape(str(p.get('rotation_id', '')))}* ({escape(str(p.get('layer')))})"


def _dm_text(session: Session, p: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The text and blocks of a direct message, by topic."""
    topic = p.get("topic")
    me = p.get("person")
    if topic == "handoff":
        text = handoff_text(session, p, you=True)
        return text, [_section(text)]
    if topic == "calendar":
        text = (
            ":calendar: Your personal on-call calendar feed (subscribe to it in your calendar "
            f"app; keep it to yourself):\n{p.get('url')}"
        )
        return text, [_section(text)]
    if topic == "swap_request":
        who = _mention(session, p.get("asker"))
        anyone = " (asked of everyone in the rotation: the first to take it gets it)"
        text = (
            f":incoming_envelope: {who} asks you to take their shift "
            f"{_swap_shift(session, p, me)}{anyone if p.get('anyone') else ''}."
        )
        if p.get("note"):
            text += f"\n> {escape(str(p['note']))}"
        buttons = {
            "type": "actions",
            "block_id": f"swap-{p.get('swap_id')}",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Take it"},
                    "style": "primary",
                    "action_id": Action.swap_take.value,
                    "value": str(p.get("swap_id")),
                },
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Decline"},
                    "action_id": Action.swap_decline.value,
                    "value": str(p.get("swap_id")),
                },
            ],
        }
        return text, [_section(text), buttons]
    by = _mention(session, p.get("by"))
    texts = {
        "swap_taken": f":handshake: {by} took your shift (swap {p.get('swap_id')}).",
        "swap_declined": f":x: {by} declined your swap request {p.get('swap_id')}.",
        "swap_gone": f":hourglass: Too late: {by} already took that shift "
        f"(swap {p.get('swap_id')}).",
    }
    text = texts.get(str(topic), f"{escape(str(topic))}")
    return text, [_section(text)]


def change_text(session: Session, p: Mapping[str, Any]) -> str:
    """An override or an agreed swap, in the team channel (times in the rotation's zone)."""
    rotation = session.get(Rotation, p.get("rotation_id")) if p.get("rotation_id") else None
    zone = ZoneInfo(rotation.timezone if rotation else "UTC")

    def when(value: Any) -> str:
        return f"{datetime.fromisoformat(str(value)).astimezone(zone):%a %d %b %H:%M}"

    where = f"*{escape(str(p.get('rotation_id')))}*"
    if p.get("topic") == "override":
        return (
            f":calendar: {where}: {_mention(session, p.get('person'))} covers from "
            f"{when(p.get('start'))} to {when(p.get('end'))} ({zone.key}), "
            f"set by {_mention(session, p.get('by'))}."
        )
    return (
        f":handshake: {where}: {_mention(session, p.get('person'))} takes the shift of "
        f"{when(p.get('start'))} ({zone.key}, {escape(str(p.get('layer')))}) from "
        f"{_mention(session, p.get('was'))}."
    )


def render_channel_notice(session: Session, message: Claimed) -> SlackCall:
    p = message.payload
    topic = p.get("topic", "handoff")
    text = handoff_text(session, p) if topic == "handoff" else change_text(session, p)
    return {
        "method": "chat.postMessage",
        "args": {"channel": p.get("channel"), "text": text, "blocks": [_section(text)]},
    }


def render_direct_message(session: Session, message: Claimed) -> SlackCall:
    p = message.payload
    text, blocks = _dm_text(session, p)
    replace = p.get("replace")
    if replace:  # an earlier DM (a swap request) whose buttons give way to this
        return {
            "method": "chat.update",
            "args": {
                "channel": replace["channel"],
                "ts": replace["ts"],
                "text": text,
                "blocks": blocks,
            },
        }
    return {
        "method": "chat.postMessage",
        "args": {"channel": _slack_user(session, p.get("person")), "text": text, "blocks": blocks},
    }


def render_usergroup_update(session: Session, message: Claimed) -> SlackCall:
    p = message.payload
    users = [_slack_user(session, person) for person in p.get("people", [])]
    return {
        "method": "usergroups.users.update",
        "args": {"usergroup": p.get("usergroup"), "users": ",".join(users)},
    }


def _safe(
    render: Callable[[Session, Claimed], SlackCall],
) -> Callable[[Session, Claimed], SlackCall]:
    """Rendering runs for a whole claimed batch: a message that cannot be rendered carries
    its refusal to `send`, which fails that row alone."""

    def safe(session: Session, message: Claimed) -> SlackCall:
        try:
            return render(session, message)
        except PermanentDeliveryError as exc:
            return {"refused": str(exc)}

    return safe


RENDERERS: dict[str, Callable[[Session, Claimed], SlackCall]] = {
    MessageKind.channel_notice: _safe(render_channel_notice),
    MessageKind.direct_message: _safe(render_direct_message),
    MessageKind.usergroup_update: _safe(render_usergroup_update),
}


def forget_calendar_link(session: Session, message: Claimed, _result: Mapping[str, Any]) -> None:
    """A delivered calendar link is a secret: the outbox keeps only that it was sent."""
    if message.payload.get("topic") == "calendar":
        session.connection().execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == message.id)
            .values(payload={**message.payload, "url": "(sent by DM)"})
        )


RECORDED: dict[str, Callable[[Session, Claimed, Mapping[str, Any]], None]] = {
    MessageKind.direct_message: forget_calendar_link,
}
