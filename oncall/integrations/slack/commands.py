"""`/oncall`: one slash command, one subcommand per thing a person asks.

Each subcommand parses its arguments, calls the domain in one transaction and answers in the
ack itself, ephemerally (only the person who asked sees it). State changes show where they
happen: the incident message is updated through the outbox. A missing argument that a form
can ask for (`override`, `swap`) opens a modal instead.
"""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App
from slack_sdk import WebClient
from sqlalchemy import Table
from sqlalchemy import select as select_columns
from sqlmodel import Session

from oncall.catalog.models import Rotation
from oncall.catalog.service import get_person, get_rotation, list_rotations
from oncall.errors import InvalidRequest, UnknownEntity
from oncall.incidents import service as incidents
from oncall.incidents.models import Incident, IncidentStatus
from oncall.incidents.permissions import require_incident_permission
from oncall.integrations.slack import later, seen
from oncall.integrations.slack.bot import Bot, NotInCatalog
from oncall.integrations.slack.replies import answer, refusal
from oncall.integrations.slack.text import escape
from oncall.rotations.feeds import (
    create_calendar_token,
    feed_url,
    list_calendar_tokens,
    revoke_calendar_token,
)
from oncall.rotations.handoffs import announce_change, direct_message
from oncall.rotations.overrides import add_override
from oncall.rotations.permissions import require_member_or_lead, rotation_members
from oncall.rotations.queries import current_shift, final_shifts
from oncall.rotations.schedule import Shift

log = logging.getLogger(__name__)

COMMAND = "/oncall"
# The same change asked twice this close together (a double submit) is done once.
REPEAT_WINDOW = timedelta(seconds=10)
MAX_LISTED = 20
DEFAULT_DAYS = 7
MAX_DAYS = 90
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


class Usage(InvalidRequest):
    """Arguments that do not fit the subcommand: the message, then its usage line."""


@dataclass(frozen=True)
class Invocation:
    user_id: str
    channel_id: str | None
    trigger_id: str | None
    args: list[str]
    usage: str = ""


@dataclass
class Reply:
    text: str = ""
    modal: str | None = None  # "override" or "swap": opened from the trigger_id
    prefill: dict[str, Any] = field(default_factory=dict)


Run = Callable[[Bot, Invocation], Reply]


@dataclass(frozen=True)
class Subcommand:
    name: str
    usage: str
    summary: str
    run: Run


# --- parsing ---------------------------------------------------------------------------------


def refuse(call: Invocation, exc: Exception) -> str:
    return refusal(exc, usage=call.usage)


def split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:  # an unbalanced quote: take the words as they are
        return text.split()


def parse_incident_id(value: str | None) -> int:
    if value is None:
        raise Usage("which incident? Give its number")
    try:
        return int(value.lstrip("#"))
    except ValueError:
        raise Usage(f"{value!r} is not an incident number") from None


def person_named(session: Session, bot: Bot, value: str) -> str:
    """A person from `<@U…>` (an escaped mention), `@id` or a catalog id."""
    found = _MENTION.match(value)
    if found:
        try:
            return bot.person_id(session, found.group(1))
        except NotInCatalog:
            raise UnknownEntity(
                "person",
                found.group(1),
                message=f"Slack user {found.group(1)} is in no slack_user of the catalog",
            ) from None
    person_id = value.lstrip("@")
    return get_person(session=session, person_id=person_id).id


def parse_when(value: str, timezone: str, field: str) -> datetime:
    """`2026-03-05T09:00` (local to `timezone` without an offset) or `2026-03-05` (midnight)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            f"{field} {value!r} is not a date and time such as 2026-03-05T09:00", field=field
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(timezone))
    return parsed


def local(instant: datetime, timezone: str) -> str:
    return instant.astimezone(ZoneInfo(timezone)).strftime("%a %d %b %H:%M")


def rotation_for(session: Session, person_id: str, named: str | None) -> Rotation:
    """The rotation named, or the person's only rotation."""
    if named is not None:
        return get_rotation(session=session, rotation_id=named)
    mine = [r for r in list_rotations(session=session) if person_id in rotation_members(r)]
    if len(mine) == 1:
        return mine[0]
    everyone = ", ".join(r.id for r in list_rotations(session=session))
    raise Usage(f"name a rotation (one of: {everyone})")


# --- the subcommands -------------------------------------------------------------------------


def who(bot: Bot, call: Invocation) -> Reply:
    def work(session: Session, _me: str) -> str:
        now = bot.now()
        if call.args:
            named = get_rotation(session=session, rotation_id=call.args[0])
            rotations = [(named.id, named.timezone)]
        else:
            rotations = bot.rotations(session)
        lines = []
        for rotation_id, timezone in rotations:
            shift = current_shift(session=session, rotation_id=rotation_id, at=now)
            if shift is None:
                lines.append(f"*{rotation_id}*: nobody is on call now")
                continue
            lines.append(
                f"*{rotation_id}*: {bot.mention(session, shift.person_id)} until "
                f"{local(shift.end, timezone)} ({timezone}){_how(shift)}"
            )
        return "\n".join(lines) or "No rotations in the catalog yet."

    return Reply(answer(bot, call.user_id, work, usage=call.usage))


def _how(shift: Shift) -> str:
    if shift.source == "override":
        return ", override"
    if shift.source == "swap":
        return ", swapped"
    return ""


def schedule(bot: Bot, call: Invocation) -> Reply:
    def work(session: Session, me: str) -> str:
        args = list(call.args)
        days = DEFAULT_DAYS
        if args and args[-1].isdigit():
            days = int(args.pop())
        if not 1 <= days <= MAX_DAYS:
            raise Usage(f"days must be between 1 and {MAX_DAYS}")
        if len(args) > 1:
            raise Usage("too many arguments")
        rotation = rotation_for(session, me, args[0] if args else None)
        timezone = get_person(session=session, person_id=me).timezone
        now = bot.now()
        shifts = final_shifts(
            session=session, rotation_id=rotation.id, start=now, end=now + timedelta(days=days)
        )
        lines = [f"*{rotation.id}*, next {days} day(s), in your time zone ({timezone}):"]
        for s in shifts[:50]:
            lines.append(
                f"• {local(s.start, timezone)} → {local(s.end, timezone)}  "
                f"{bot.mention(session, s.person_id)}{_how(s)}"
            )
        if len(shifts) > 50:
            lines.append(f"…and {len(shifts) - 50} more")
        if not shifts:
            lines.append("nobody is scheduled")
        return "\n".join(lines)

    return Reply(answer(bot, call.user_id, work, usage=call.usage))


def incidents_list(bot: Bot, call: Invocation) -> Reply:
    which = call.args[0] if call.args else "open"
    if which not in ("open", "mine") or len(call.args) > 1:
        return Reply(refuse(call, Usage(f"show open or mine, not {' '.join(call.args)!r}")))

    def work(session: Session, me: str) -> str:
        # Plain columns, not ORM objects: only what a line shows (the list is asked often).
        query = _OPEN_INCIDENT_LINES
        if which == "mine":
            query = query.where(
                (_INCIDENTS.c.assignee_id == me) | (_INCIDENTS.c.acknowledged_by == me)
            )
        rows = list(session.connection().execute(query.limit(MAX_LISTED + 1)))
        if not rows:
            return "No open incidents." if which == "open" else "No open incidents of yours."
        lines = [incident_line(bot, session, cast(LineFacts, i)) for i in rows[:MAX_LISTED]]
        if len(rows) > MAX_LISTED:
            lines.append(f"…and more: {bot.settings.public_url.rstrip('/')}/")
        return "\n".join(lines)

    return Reply(answer(bot, call.user_id, work, usage=call.usage))


class LineFacts(Protocol):
    """What an incident's one-line summary reads (an Incident, or a row of its columns)."""

    @property
    def id(self) -> int | None: ...
    @property
    def severity(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def assignee_id(self) -> str | None: ...
    @property
    def acknowledged_by(self) -> str | None: ...


_INCIDENTS: Table = Incident.__table__  # type: ignore[attr-defined]
_OPEN_INCIDENT_LINES = (
    select_columns(
        _INCIDENTS.c.id,
        _INCIDENTS.c.severity,
        _INCIDENTS.c.title,
        _INCIDENTS.c.status,
        _INCIDENTS.c.assignee_id,
        _INCIDENTS.c.acknowledged_by,
    )
    .where(_INCIDENTS.c.status != IncidentStatus.resolved)
    .order_by(_INCIDENTS.c.id.desc())
)


def incident_line(bot: Bot, session: Session, incident: LineFacts) -> str:
    who = (
        f"acked by {bot.mention(session, incident.acknowledged_by)}"
        if incident.acknowledged_by
        else f"on call {bot.mention(session, incident.assignee_id)}"
    )
    return (
        f"<{bot.incident_url(incident.id)}|#{incident.id}> *{incident.severity.upper()}* "
        f"{escape(incident.title)} — {incident.status}, {who}"
    )


def _once(session: Session, bot: Bot, call: Invocation, what: str) -> bool:
    """False when this request was already acted on: a retry of it (same trigger) or the same
    change asked again within seconds (a double submit)."""
    now = bot.now()
    first = True
    if call.trigger_id:
        first = seen.first_time(session=session, key=f"trigger:{call.trigger_id}", now=now)
    again = f"command:{call.user_id}:{what}"
    return seen.first_time(session=session, key=again, now=now, window=REPEAT_WINDOW) and first


ALREADY_DONE = ":repeat: That was already done: the same request arrived twice."


def _incident_change(verb: str, change: Callable[[Session, int, str, str | None], str]) -> Run:
    def run(bot: Bot, call: Invocation) -> Reply:
        def work(session: Session, me: str) -> str:
            incident_id = parse_incident_id(call.args[0] if call.args else None)
            note = " ".join(call.args[1:]) or None
            if not _once(session, bot, call, f"{verb}:{incident_id}:{note}"):
                return ALREADY_DONE
            return change(session, incident_id, me, note)

        return Reply(answer(bot, call.user_id, work, usage=call.usage))

    return run


def _acknowledge(bot: Bot) -> Callable[[Session, int, str, str | None], str]:
    def change(session: Session, incident_id: int, me: str, _note: str | None) -> str:
        incidents.acknowledge(session=session, incident_id=incident_id, by=me, now=bot.now())
        return f":white_check_mark: You acknowledged incident #{incident_id}."

    return change


def _resolve(bot: Bot) -> Callable[[Session, int, str, str | None], str]:
    def change(session: Session, incident_id: int, me: str, note: str | None) -> str:
        incident = incidents.get_incident(session=session, incident_id=incident_id)
        require_incident_permission(session=session, incident=incident, by=me, what="resolve")
        incidents.resolve(session=session, incident_id=incident_id, by=me, now=bot.now(), note=note)
        return f":large_green_circle: You resolved incident #{incident_id}."

    return change


def _escalate(bot: Bot) -> Callable[[Session, int, str, str | None], str]:
    def change(session: Session, incident_id: int, me: str, _note: str | None) -> str:
        incident = incidents.get_incident(session=session, incident_id=incident_id)
        require_incident_permission(session=session, incident=incident, by=me, what="escalate")
        done = incidents.escalate(session=session, incident_id=incident_id, by=me, now=bot.now())
        return f":rotating_light: Escalated incident #{incident_id}: {escape(done)}."

    return change


def override(bot: Bot, call: Invocation) -> Reply:
    """`override @user <from> <to> [rotation]`; a modal when arguments are missing."""
    if len(call.args) < 3:
        return Reply(modal="override", prefill={"args": call.args})
    if len(call.args) > 4:
        return Reply(refuse(call, Usage("too many arguments")))

    def work(session: Session, me: str) -> str:
        person_id = person_named(session, bot, call.args[0])
        rotation = rotation_for(session, person_id, call.args[3] if len(call.args) > 3 else None)
        timezone = get_person(session=session, person_id=me).timezone
        start = parse_when(call.args[1], timezone, "from")
        end = parse_when(call.args[2], timezone, "to")
        if not _once(session, bot, call, "override:" + " ".join(call.args)):
            return ALREADY_DONE
        return create_override(
            bot, session, me=me, rotation=rotation, person_id=person_id, start=start, end=end
        )

    return Reply(answer(bot, call.user_id, work, usage=call.usage))


def create_override(
    bot: Bot,
    session: Session,
    *,
    me: str,
    rotation: Rotation,
    person_id: str,
    start: datetime,
    end: datetime,
) -> str:
    """The one path of an override from Slack (command and modal): permission, then the
    domain's own checks."""
    require_member_or_lead(session=session, rotation=rotation, by=me, what="add overrides")
    created = add_override(
        session=session,
        rotation_id=rotation.id,
        person_id=person_id,
        start=start,
        end=end,
        now=bot.now(),
        by=me,
        note="from Slack",
    )
    announce_change(
        session=session,
        rotation_id=rotation.id,
        now=bot.now(),
        topic="override",
        person=person_id,
        by=me,
        start=start.isoformat(),
        end=end.isoformat(),
    )
    timezone = get_person(session=session, person_id=me).timezone
    return (
        f":calendar: Override {created.id}: {bot.mention(session, person_id)} covers "
        f"*{rotation.id}* from {local(start, timezone)} to {local(end, timezone)} ({timezone})."
    )


def swap(_bot: Bot, call: Invocation) -> Reply:
    if call.args:
        return Reply(refuse(call, Usage("swap takes no arguments: it opens a form")))
    return Reply(modal="swap")


def calendar(bot: Bot, call: Invocation) -> Reply:
    renew = call.args == ["new"]
    if call.args and not renew:
        return Reply(refuse(call, Usage("calendar takes no argument but `new`")))

    def work(session: Session, me: str) -> str:
        now = bot.now()
        mine = [
            t
            for t in list_calendar_tokens(session=session, include_revoked=False)
            if t.person_id == me
        ]
        if mine and not renew:
            return (
                ":calendar: You already have a personal calendar feed (created "
                f"{mine[-1].created_at:%Y-%m-%d}); its link was sent to you by DM. "
                "`/oncall calendar new` gives you a new link and the old one stops working."
            )
        if not _once(session, bot, call, "calendar"):
            return ALREADY_DONE
        for old in mine:
            revoke_calendar_token(session=session, token_id=old.id or 0, now=now)
        _row, token = create_calendar_token(session=session, now=now, person_id=me, by=me)
        direct_message(
            session=session,
            now=now,
            person_id=me,
            topic="calendar",
            url=feed_url(bot.settings.public_url, token),
        )
        return ":calendar: I've sent you your personal calendar feed link by DM."

    return Reply(answer(bot, call.user_id, work, usage=call.usage))


def _later(what: Callable[[Bot, Session, str, list[str]], str]) -> Run:
    def run(bot: Bot, call: Invocation) -> Reply:
        def work(session: Session, me: str) -> str:
            return what(bot, session, me, call.args)

        return Reply(answer(bot, call.user_id, work, usage=call.usage))

    return run


def help_text() -> str:
    lines = ["*`/oncall` commands*"]
    lines += [f"• `{COMMAND} {s.usage}` — {s.summary}" for s in SUBCOMMANDS.values()]
    return "\n".join(lines)


def _help(_bot: Bot, _call: Invocation) -> Reply:
    return Reply(help_text())


def _subcommands() -> dict[str, Subcommand]:
    items = [
        Subcommand("who", "who [rotation]", "who is on call now", who),
        Subcommand("schedule", "schedule [rotation] [days]", "the final schedule ahead", schedule),
        Subcommand(
            "override",
            "override @user <from> <to> [rotation]",
            "someone covers a time range (a form without arguments); times like "
            "2026-03-05T09:00, in your time zone",
            override,
        ),
        Subcommand("swap", "swap", "give one of your shifts to someone (a form)", swap),
        Subcommand("incidents", "incidents [open|mine]", "incidents not resolved", incidents_list),
        Subcommand("ack", "ack <id>", "acknowledge an incident", _ack_run),
        Subcommand("resolve", "resolve <id> [note]", "resolve an incident", _resolve_run),
        Subcommand("escalate", "escalate <id>", "fire the next escalation step now", _esc_run),
        Subcommand("calendar", "calendar [new]", "your personal calendar feed, by DM", calendar),
        Subcommand("prs", "prs [model]", "production readiness scores", _later(later.prs)),
        Subcommand("rca", "rca <id>", "the RCA of an incident", _later(later.rca)),
        Subcommand("gpu", "gpu", "GPU node health", _later(later.gpu)),
        Subcommand("insights", "insights [team]", "reliability trends", _later(later.insights)),
        Subcommand("help", "help", "this list", _help),
    ]
    return {s.name: s for s in items}


def _ack_run(bot: Bot, call: Invocation) -> Reply:
    return _incident_change("ack", _acknowledge(bot))(bot, call)


def _resolve_run(bot: Bot, call: Invocation) -> Reply:
    return _incident_change("resolve", _resolve(bot))(bot, call)


def _esc_run(bot: Bot, call: Invocation) -> Reply:
    return _incident_change("escalate", _escalate(bot))(bot, call)


SUBCOMMANDS = _subcommands()


def dispatch(bot: Bot, command: dict[str, Any]) -> Reply:
    """What `/oncall <text>` answers."""
    words = split(command.get("text") or "")
    name = words[0].lower() if words else "help"
    sub = SUBCOMMANDS.get(name)
    if sub is None:
        return Reply(f":thinking_face: I don't know `{escape(name)}`.\n" + help_text())
    call = Invocation(
        user_id=command.get("user_id", ""),
        channel_id=command.get("channel_id"),
        trigger_id=command.get("trigger_id"),
        args=words[1:],
        usage=f"{COMMAND} {sub.usage}",
    )
    return sub.run(bot, call)


def register(app: App, bot: Bot) -> None:
    from oncall.integrations.slack import modals

    def on_command(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        reply = dispatch(bot, command)
        if reply.modal is None:
            ack(response_type="ephemeral", text=reply.text)
            return
        ack()
        # Not a Bolt lazy listener: those deep-copy every request, and most commands need
        # nothing after their answer.
        bot.after_answer(
            modals.open_modal,
            bot,
            client,
            name=reply.modal,
            trigger_id=command["trigger_id"],
            slack_user=command.get("user_id", ""),
            prefill=reply.prefill,
            channel_id=command.get("channel_id"),
        )

    app.command(COMMAND)(on_command)
