"""Swaps from Slack: ask one person or anyone in the rotation to take one of your shifts; the
other side answers with Take it / Decline in a DM. For "anyone", the first to take it gets it
(the domain cancels the other requests) and the others are told.

Requests and answers are state changes, so the DMs they set off go through the outbox.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from oncall.catalog.service import get_rotation
from oncall.errors import InvalidRequest
from oncall.integrations.slack.bot import Bot
from oncall.outbox import MessageKind, OutboxMessage
from oncall.rotations.handoffs import announce_change, direct_message
from oncall.rotations.models import Swap, SwapStatus
from oncall.rotations.permissions import require_member_or_lead, rotation_members
from oncall.rotations.queries import person_shifts
from oncall.rotations.schedule import Shift
from oncall.rotations.swaps import accept_swap, decline_swap, request_swap

ANYONE = "*"
HORIZON = timedelta(weeks=8)


def shift_value(shift: Shift) -> str:
    """A shift's identity as an option value: rotation|layer|shift start."""
    start = shift.shift_start or shift.start
    return f"{shift.rotation_id}|{shift.layer}|{start.isoformat()}"


def parse_shift_value(value: str) -> tuple[str, str, datetime]:
    try:
        rotation_id, layer, start = value.split("|", 2)
        return rotation_id, layer, datetime.fromisoformat(start)
    except ValueError:
        raise InvalidRequest("pick one of your shifts", field="shift") from None


def upcoming_shifts(session: Session, person_id: str, now: datetime) -> list[Shift]:
    """The person's layer shifts not over yet (what a swap can hand over), one per shift."""
    out: dict[str, Shift] = {}
    for s in person_shifts(session=session, person_id=person_id, start=now, end=now + HORIZON):
        if s.source != "override" and s.shift_start is not None:
            out.setdefault(shift_value(s), s)
    return list(out.values())


def request_from_slack(
    bot: Bot, session: Session, *, me: str, shift: str, to: str, note: str | None
) -> str:
    """Ask `to` (a person id, or ANYONE in the rotation) to take `shift`; DMs go out."""
    rotation_id, layer, shift_start = parse_shift_value(shift)
    rotation = get_rotation(session=session, rotation_id=rotation_id)
    require_member_or_lead(session=session, rotation=rotation, by=me, what="swap shifts")
    now = bot.now()
    people = sorted(rotation_members(rotation) - {me}) if to == ANYONE else [to]
    if not people:
        raise InvalidRequest("nobody else is in that rotation", field="to")
    for person in people:
        swap = request_swap(
            session=session,
            rotation_id=rotation_id,
            layer=layer,
            shift_start=shift_start,
            from_person_id=me,
            to_person_id=person,
            now=now,
            by=me,
            note=note,
        )
        direct_message(
            session=session,
            now=now,
            person_id=person,
            topic="swap_request",
            swap_id=swap.id,
            rotation_id=rotation_id,
            layer=layer,
            shift_start=shift_start.isoformat(),
            asker=me,
            anyone=to == ANYONE,
            note=note,
        )
    who = "anyone in the rotation" if to == ANYONE else bot.mention(session, to)
    return f":incoming_envelope: I've asked {who} to take your shift; you'll hear back by DM."


def _taken_by(session: Session, swap: Swap) -> str | None:
    """Who took the shift a closed request was about, if someone did."""
    taken = session.exec(
        select(Swap)
        .where(col(Swap.rotation_id) == swap.rotation_id)
        .where(col(Swap.layer) == swap.layer)
        .where(col(Swap.shift_start) == swap.shift_start)
        .where(col(Swap.status) == SwapStatus.accepted)
    ).first()
    return taken.to_person_id if taken else None


def _request_message(session: Session, swap: Swap) -> tuple[str, str] | None:
    """Where the DM asking about `swap` went (channel, ts), once delivered."""
    rows = session.exec(
        select(OutboxMessage)
        .where(col(OutboxMessage.kind) == MessageKind.direct_message)
        .where(col(OutboxMessage.delivered_at).is_not(None))
        .where(col(OutboxMessage.created_at) >= swap.requested_at)
        .order_by(col(OutboxMessage.id))
    )
    for row in rows:
        p, result = row.payload, row.result
        if p.get("topic") == "swap_request" and p.get("swap_id") == swap.id and result.get("ts"):
            return str(result.get("channel")), str(result["ts"])
    return None


def answer_swap(bot: Bot, session: Session, *, me: str, swap_value: str, decision: str) -> str:
    """Take it or Decline, pressed by `me` on the request `swap_value` (a swap id)."""
    try:
        swap_id = int(swap_value)
    except ValueError:
        raise InvalidRequest(f"bad swap id {swap_value!r} on the button") from None
    swap = session.get(Swap, swap_id)
    now = bot.now()
    if swap is not None and swap.status != SwapStatus.requested:
        taker = _taken_by(session, swap)
        if taker is not None:
            return f":hourglass: Too late: {bot.mention(session, taker)} already took this shift."
        return f":information_source: This request is already {swap.status}."
    if decision == "decline":
        swap = decline_swap(session=session, swap_id=swap_id, now=now, by=me)
        direct_message(
            session=session,
            now=now,
            person_id=swap.from_person_id,
            topic="swap_declined",
            swap_id=swap_id,
            by=me,
        )
        return ":x: You declined the swap; they've been told."
    swap = accept_swap(session=session, swap_id=swap_id, now=now, by=me)
    announce_change(
        session=session,
        rotation_id=swap.rotation_id,
        now=now,
        topic="swap",
        person=swap.to_person_id,
        was=swap.from_person_id,
        layer=swap.layer,
        start=swap.shift_start.isoformat(),
    )
    direct_message(
        session=session,
        now=now,
        person_id=swap.from_person_id,
        topic="swap_taken",
        swap_id=swap_id,
        by=me,
    )
    others = session.exec(
        select(Swap)
        .where(col(Swap.rotation_id) == swap.rotation_id)
        .where(col(Swap.layer) == swap.layer)
        .where(col(Swap.shift_start) == swap.shift_start)
        .where(col(Swap.status) == SwapStatus.cancelled)
        .where(col(Swap.decided_at) == now)
    )
    for other in others:
        # Their request's buttons give way to "too late" (a new DM if it was not sent yet).
        sent = _request_message(session, other)
        extra = {"replace": {"channel": sent[0], "ts": sent[1]}} if sent else {}
        direct_message(
            session=session,
            now=now,
            person_id=other.to_person_id,
            topic="swap_gone",
            swap_id=other.id,
            by=me,
            **extra,
        )
    return (
        f":handshake: The shift is yours: you took it from "
        f"{bot.mention(session, swap.from_person_id)}. `/oncall schedule` shows it."
    )
