"""The outbox's Slack handler: each Slack row becomes one Web API call.

`render` (a read session, after the claim) reads the incident as it is now and builds the
call, so an update always carries the latest state; an update row with a later update of
the same message still waiting is skipped, and an update within COALESCE of the message's
last post or update is deferred until then — several changes in a few seconds become one
`chat.update`. `send` makes the call with no transaction open. `recorded` stores the
message's `ts` and channel id in the transaction that marks the row delivered, so every
later change is a `chat.update` of that `ts` and a crash repeats at most one post.

`SENDERS` maps each message kind to the function that builds its call; other Slack
features (hand-off posts, DMs, user groups) register their kinds there."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import Table, and_, bindparam, or_
from sqlalchemy import select as select_columns
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from oncall import links
from oncall.catalog.models import Model, Person, Team
from oncall.clock import Clock
from oncall.config import Settings
from oncall.db import DriverQuery
from oncall.escalation.models import Escalation
from oncall.incidents import storms
from oncall.incidents.models import Alert, Incident, IncidentStorm
from oncall.integrations.slack import text as t
from oncall.integrations.slack.blocks import (
    STORM_LISTED,
    IncidentMessage,
    StormMessage,
    incident_blocks,
    incident_text,
    storm_blocks,
    storm_text,
)
from oncall.integrations.slack.client import web_client
from oncall.integrations.slack.webapi import Pacer, classify
from oncall.outbox import (
    OUTBOX,
    Claimed,
    DeferredDelivery,
    Handler,
    MessageKind,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from oncall.rca.models import RcaDocument

log = logging.getLogger(__name__)

INCIDENTS: Table = Incident.__table__  # type: ignore[attr-defined]

# When a thread reply waits for its storm message to be posted.
WAIT_FOR_MESSAGE = timedelta(seconds=2)
# Changes to one message within this time of its last post or update become one update,
# sent when the time is up, with the state as it is then.
COALESCE = timedelta(seconds=3)


Target = tuple[str, int | str]
# The coalescer forgets messages past their window once it remembers more than this many.
PRUNE_ABOVE = 1024


class Coalescer:
    """When each message was last sent by this process, so that changes to one message within
    `window` of its last post or update become one later update (per process)."""

    def __init__(self, clock: Clock, window: timedelta = COALESCE) -> None:
        self._clock = clock
        self._window = window
        self._last: dict[Target, datetime] = {}
        self._prune_above = PRUNE_ABOVE
        self._guard = threading.Lock()

    def wait(self, target: Target) -> timedelta | None:
        """How long until `target` may be sent again; None when it may go now."""
        with self._guard:
            last = self._last.get(target)
        if last is None:
            return None
        waited = self._clock() - last
        return self._window - waited if waited < self._window else None

    def hold(self, target: Target) -> None:
        """Raise DeferredDelivery while `target` is inside its window."""
        wait = self.wait(target)
        if wait is not None:
            raise DeferredDelivery("coalescing changes to one message", retry_after=wait)

    def __len__(self) -> int:
        """How many messages it remembers."""
        with self._guard:
            return len(self._last)

    def sent(self, target: Target) -> None:
        now = self._clock()
        with self._guard:
            self._last[target] = now
            if len(self._last) > self._prune_above:
                # Only messages inside their window matter: a long-running process must not
                # keep one entry for every message it ever sent.
                self._last = {t: at for t, at in self._last.items() if now - at < self._window}
                self._prune_above = max(PRUNE_ABOVE, 2 * len(self._last))


@dataclass(frozen=True)
class Context:
    """What builders need besides the row: links are absolute (ONCALL_PUBLIC_URL).

    `coalescer`: checked before an update is rendered, so a message inside its coalescing
    window costs one query (the row is deferred), not a rendering that `send` throws away."""

    settings: Settings
    now: datetime
    coalescer: Coalescer | None = None

    def hold(self, target: Target) -> None:
        if self.coalescer is not None:
            self.coalescer.hold(target)


Recorded = Callable[[Session, Claimed, Mapping[str, Any]], None]


@dataclass(frozen=True)
class SlackCall:
    """One Web API call, built while the row is claimed.

    `ts_of`: whose message this is — ("incident", id) or ("storm", id) — so the answer's ts
    and channel are stored there; `thread_of`: the message a reply goes under, looked up just
    before sending (a storm message may be posted by an earlier row of the same batch);
    `skip`: why nothing is sent (a later row of the same message supersedes this one)."""

    method: str
    args: dict[str, Any] = field(default_factory=dict)
    channel: str | None = None
    ts_of: tuple[str, int] | None = None
    update_of: tuple[str, int] | None = None
    thread_of: tuple[str, int] | None = None
    skip: str | None = None
    recorded: Recorded | None = None
    # Calls to one target (an App Home) within COALESCE of the last become one, later.
    coalesce_as: tuple[str, str] | None = None


Sender = Callable[[Session, Claimed, Context], SlackCall]


# --- reading what a message shows ----------------------------------------------------------


def incident_message(session: Session, incident: Incident, ctx: Context) -> IncidentMessage:
    """The incident as its message shows it, read now."""
    assert incident.id is not None
    ids = {incident.assignee_id, incident.acknowledged_by, incident.resolved_by} - {None}
    people = {p.id: p for p in session.exec(select(Person).where(col(Person.id).in_(list(ids))))}
    escalation = session.get(Escalation, incident.id)
    return IncidentMessage(
        incident=incident,
        alerts=list(
            session.exec(
                select(Alert).where(Alert.incident_id == incident.id).order_by(col(Alert.id))
            )
        ),
        people=people,
        team=session.get(Team, incident.team_id) if incident.team_id else None,
        model=session.get(Model, incident.model_id) if incident.model_id else None,
        has_rca=session.get(RcaDocument, incident.id) is not None,
        paged=escalation is not None and escalation.paged_at is not None,
        incident_url=links.incident_url(ctx.settings, incident.id),
        rca_url=links.rca_url(ctx.settings, incident.id),
        public_url=links.public_base(ctx.settings),
        now=ctx.now,
    )


def storm_message(session: Session, storm: IncidentStorm, ctx: Context) -> StormMessage:
    assert storm.id is not None
    found = storms.summary(session=session, storm_id=storm.id, listed=STORM_LISTED)
    ids = [i.id for i in found.listed if i.id is not None]
    with_rca = set(
        session.exec(select(RcaDocument.incident_id).where(col(RcaDocument.incident_id).in_(ids)))
    )
    return StormMessage(
        storm_id=storm.id,
        channel=storm.channel,
        started_at=storm.started_at,
        total=found.total,
        open=found.open,
        severities=found.severities,
        models=found.models,
        listed=found.listed,
        has_rca=frozenset(with_rca),
        incident_urls={i: links.incident_url(ctx.settings, i) for i in ids},
        dashboard_url=links.dashboard_url(ctx.settings),
        now=ctx.now,
    )


_PENDING = and_(OUTBOX.c.delivered_at.is_(None), OUTBOX.c.failed_at.is_(None))
# A later row of one incident still to deliver: its rows are few (the incident_id index).
_LATER_OF_INCIDENT = DriverQuery(
    select_columns(OUTBOX.c.id)
    .where(OUTBOX.c.channel == bindparam("channel"))
    .where(OUTBOX.c.id > bindparam("after"))
    .where(OUTBOX.c.incident_id == bindparam("incident_id"))
    .where(OUTBOX.c.kind == str(MessageKind.update_incident))
    .where(_PENDING)
    .order_by(OUTBOX.c.id.desc())
    .limit(1),
    # Not the channel's backlog read from its end, which SQLite would otherwise choose.
    indexed_by=("outbox", "ix_outbox_incident_id"),
)
# A later row of any member of a storm, still to deliver. Driven from the channel's pending
# rows (the backlog), each joined to its incident by key: a storm may hold thousands of
# incidents, and every member's row asks this.
_LATER_IN_STORM = DriverQuery(
    select_columns(OUTBOX.c.id)
    .select_from(OUTBOX.join(INCIDENTS, INCIDENTS.c.id == OUTBOX.c.incident_id))
    .where(OUTBOX.c.channel == bindparam("channel"))
    .where(OUTBOX.c.id > bindparam("after"))
    .where(
        or_(
            OUTBOX.c.kind == str(MessageKind.update_incident),
            OUTBOX.c.kind == str(MessageKind.post_incident),
        )
    )
    .where(_PENDING)
    .where(INCIDENTS.c.storm_id == bindparam("storm_id"))
    .order_by(OUTBOX.c.id.desc())
    .limit(1)
)


def _superseded(session: Session, claimed: Claimed, incident_id: int) -> int | None:
    """A later update of the same incident, still to deliver: this one need not be sent."""
    row = _LATER_OF_INCIDENT.first(
        session.connection(),
        {"channel": claimed.channel, "after": claimed.id, "incident_id": incident_id},
    )
    return int(row.id) if row is not None else None


def _storm_superseded(session: Session, claimed: Claimed, storm_id: int) -> int | None:
    """A later row of any member of the same storm, still to deliver (a member's post renders
    the whole storm message too): this one need not be sent."""
    row = _LATER_IN_STORM.first(
        session.connection(),
        {"channel": claimed.channel, "after": claimed.id, "storm_id": storm_id},
    )
    return int(row.id) if row is not None else None


def _incident(session: Session, claimed: Claimed) -> Incident:
    incident = (
        session.get(Incident, claimed.incident_id) if claimed.incident_id is not None else None
    )
    if incident is None:
        raise PermanentDeliveryError(f"incident {claimed.incident_id} no longer exists")
    return incident


def _channel(incident: Incident) -> str:
    channel = incident.slack_channel_id or incident.slack_channel
    if not channel:
        raise PermanentDeliveryError(
            f"incident {incident.id} has no Slack channel: set `slack_channel` on team "
            f"{incident.team_id or '(unrouted)'} in oncall.yaml"
        )
    return channel


# --- the senders ---------------------------------------------------------------------------


def _storm_call(session: Session, claimed: Claimed, storm_id: int, ctx: Context) -> SlackCall:
    # Checked first: in a storm most rows are superseded, and a skipped row costs one query.
    later = _storm_superseded(session, claimed, storm_id)
    if later is not None:
        return SlackCall("chat.update", skip=f"superseded by #{later}")
    ctx.hold(("storm", storm_id))  # sent within the window: the latest row goes later
    storm = session.get(IncidentStorm, storm_id)
    if storm is None:
        raise PermanentDeliveryError(f"storm {storm_id} no longer exists")
    channel = storm.slack_channel_id or storm.channel
    message = storm_message(session, storm, ctx)
    args = {"channel": channel, "text": storm_text(message), "blocks": storm_blocks(message)}
    # Posted, or updated in place once posted: decided at send time, see `send`.
    return SlackCall(
        "chat.postMessage",
        args,
        channel=channel,
        ts_of=("storm", storm_id),
        update_of=("storm", storm_id),
    )


def post_incident(session: Session, claimed: Claimed, ctx: Context) -> SlackCall:
    """The incident message (chat.postMessage), or the storm message it joined."""
    if claimed.payload.get("storm") is not None:  # decided when it opened (storms.gather)
        return _storm_call(session, claimed, int(claimed.payload["storm"]), ctx)
    incident = _incident(session, claimed)
    if incident.storm_id is not None:
        return _storm_call(session, claimed, incident.storm_id, ctx)
    if incident.slack_ts is not None:  # a repeat after the ts was stored: update instead
        return update_incident(session, claimed, ctx)
    channel = _channel(incident)
    message = incident_message(session, incident, ctx)
    args = {
        "channel": channel,
        "text": incident_text(message),
        "blocks": incident_blocks(message),
        "unfurl_links": False,
        "unfurl_media": False,
    }
    target = ("incident", incident.id or 0)
    return SlackCall("chat.postMessage", args, channel=channel, ts_of=target)


def update_incident(session: Session, claimed: Claimed, ctx: Context) -> SlackCall:
    """chat.update of the stored ts with the incident as it is now; skipped when a later
    update of the same message is waiting. Without a ts (the post was refused), posts."""
    incident = _incident(session, claimed)
    if incident.storm_id is not None:
        return _storm_call(session, claimed, incident.storm_id, ctx)
    channel = _channel(incident)
    later = _superseded(session, claimed, incident.id or 0)
    if later is not None:
        return SlackCall("chat.update", channel=channel, skip=f"superseded by #{later}")
    ctx.hold(("incident", incident.id or 0))
    message = incident_message(session, incident, ctx)
    args: dict[str, Any] = {
        "channel": channel,
        "text": incident_text(message),
        "blocks": incident_blocks(message),
    }
    if incident.slack_ts is None:
        args.update(unfurl_links=False, unfurl_media=False)
        return SlackCall(
            "chat.postMessage", args, channel=channel, ts_of=("incident", incident.id or 0)
        )
    args["ts"] = incident.slack_ts
    return SlackCall("chat.update", args, channel=channel, ts_of=("incident", incident.id or 0))


def thread_text(session: Session, incident: Incident, payload: Mapping[str, Any]) -> str:
    """A thread reply's text. Only the payload's `mention` (person ids) and `here` call
    anyone; the text itself is escaped, so it can ping nobody."""
    mentioned = [str(p) for p in payload.get("mention") or []]
    people = {p.id: p for p in session.exec(select(Person).where(col(Person.id).in_(mentioned)))}
    calls = [t.person_mention(people.get(p), p) for p in mentioned]
    if payload.get("here"):
        calls.insert(0, "<!here>")
    body = t.escape(str(payload.get("text", "")))
    if incident.storm_id is not None:  # under the storm message: say which incident
        body = f"#{incident.id} {t.escape(t.one_line(incident.title))}: {body}"
    return t.truncate(" ".join([*calls, body]), t.MAX_FALLBACK_TEXT)


def thread_message(session: Session, claimed: Claimed, ctx: Context) -> SlackCall:
    """A reply in the incident's thread (the storm message's, for a storm incident)."""
    incident = _incident(session, claimed)
    text = thread_text(session, incident, claimed.payload)
    if incident.storm_id is not None:
        storm = session.get(IncidentStorm, incident.storm_id)
        channel = (storm.slack_channel_id or storm.channel) if storm else _channel(incident)
        args = {"channel": channel, "text": text}
        return SlackCall(
            "chat.postMessage", args, channel=channel, thread_of=("storm", incident.storm_id)
        )
    if incident.slack_ts is None:
        raise PermanentDeliveryError(
            f"the message of incident {incident.id} was never posted, so its thread cannot "
            f"take this reply (see the incident's earlier delivery error)"
        )
    channel = _channel(incident)
    args = {"channel": channel, "text": text, "thread_ts": incident.slack_ts}
    return SlackCall("chat.postMessage", args, channel=channel)


def _notice(kind: str) -> Sender:
    """The bot's own kinds (hand-off notices, DMs, user groups: `notices.py`) through the same
    handler, so they share its pacing, its error rules and its one Web API client."""
    from oncall.integrations.slack import notices

    render_kind = notices.RENDERERS[kind]
    recorded = notices.RECORDED.get(kind)

    def sender(session: Session, claimed: Claimed, _ctx: Context) -> SlackCall:
        call = render_kind(session, claimed)
        if "refused" in call:
            raise PermanentDeliveryError(str(call["refused"]))
        args = dict(call["args"])
        return SlackCall(call["method"], args, channel=args.get("channel"), recorded=recorded)

    return sender


def _later_home_row(session: Session, claimed: Claimed, person_id: str) -> int | None:
    from oncall.homes import person_key_prefix

    later = (
        session.connection()
        .execute(
            select_columns(OUTBOX.c.id)
            .where(OUTBOX.c.channel == claimed.channel)
            .where(OUTBOX.c.id > claimed.id)
            .where(OUTBOX.c.kind == str(MessageKind.home_refresh))
            .where(OUTBOX.c.dedup_key.startswith(person_key_prefix(person_id), autoescape=True))
            .where(and_(OUTBOX.c.delivered_at.is_(None), OUTBOX.c.failed_at.is_(None)))
            .order_by(OUTBOX.c.id.desc())
            .limit(1)
        )
        .first()
    )
    return int(later.id) if later is not None else None


def home_refresh(session: Session, claimed: Claimed, ctx: Context) -> SlackCall:
    """views.publish of a person's App Home, rendered now; skipped when a later refresh of
    the same home is waiting, and at most one publish per home within COALESCE."""
    from oncall.integrations.slack.bot import Bot
    from oncall.integrations.slack.home import home_view

    person_id = str(claimed.payload.get("person") or "")
    later = _later_home_row(session, claimed, person_id)
    if later is not None:
        return SlackCall("views.publish", skip=f"superseded by #{later}")
    person = session.get(Person, person_id)
    if person is None or not person.slack_user or person.retired_at is not None:
        return SlackCall("views.publish", skip=f"{person_id} has no Slack user any more")
    ctx.hold(("home", person_id))  # published within the window: this row goes later
    now = ctx.now
    bot = Bot(
        engine=session.get_bind(),  # type: ignore[arg-type]
        clock=lambda: now,
        settings=ctx.settings,
        client=WebClient(),
    )
    view = home_view(bot, session, person_id)
    return SlackCall(
        "views.publish",
        {"user_id": person.slack_user, "view": view},
        coalesce_as=("home", person_id),
    )


SENDERS: dict[str, Sender] = {
    MessageKind.post_incident: post_incident,
    MessageKind.update_incident: update_incident,
    MessageKind.thread_message: thread_message,
    MessageKind.channel_notice: _notice(MessageKind.channel_notice),
    MessageKind.direct_message: _notice(MessageKind.direct_message),
    MessageKind.usergroup_update: _notice(MessageKind.usergroup_update),
    MessageKind.home_refresh: home_refresh,
}


# --- the handler -----------------------------------------------------------------------------


def _message_owner(session: Session, target: tuple[str, int]) -> Incident | IncidentStorm | None:
    kind, key = target
    if kind == "storm":
        return session.get(IncidentStorm, key)
    return session.get(Incident, key)


def _stored_ts(engine: Engine, target: tuple[str, int]) -> tuple[str | None, str | None]:
    """(channel id, ts) of a posted message, read just before a call that needs it."""
    with Session(engine) as session:
        row = _message_owner(session, target)
        if row is None:
            return None, None
        return row.slack_channel_id, row.slack_ts


def slack_handler(
    settings: Settings,
    *,
    engine: Engine,
    clock: Clock,
    client: WebClient | None = None,
    pacer: Pacer | None = None,
) -> Handler:
    """The Slack channel's Handler: render -> send -> recorded (see the module docstring)."""
    client = client or web_client(settings)
    pacer = pacer or Pacer()
    # When each message was last posted or updated by this process (coalescing window).
    coalescer = Coalescer(clock)

    def render(session: Session, claimed: Claimed) -> SlackCall | Exception:
        sender = SENDERS.get(claimed.kind)
        if sender is None:
            return PermanentDeliveryError(f"no Slack sender for {claimed.kind!r}")
        try:
            return sender(
                session, claimed, Context(settings=settings, now=clock(), coalescer=coalescer)
            )
        except (PermanentDeliveryError, DeferredDelivery) as exc:
            return exc  # raised in `send`, where the outbox records failures and deferrals
        except Exception as exc:  # a row that cannot be rendered must not hold up the batch
            log.exception("slack: cannot render outbox row #%s (%s)", claimed.id, claimed.kind)
            return RetryableDeliveryError(f"cannot render the message: {exc!r}")

    def send(claimed: Claimed) -> Mapping[str, Any]:
        call = claimed.rendered
        if isinstance(call, Exception):
            raise call
        assert isinstance(call, SlackCall)
        if call.skip is not None:
            return {"skipped": call.skip}
        method, args = call.method, dict(call.args)
        if call.update_of is not None:
            channel_id, ts = _stored_ts(engine, call.update_of)
            if ts is not None:
                method = "chat.update"
                args = {k: v for k, v in args.items() if not k.startswith("unfurl")}
                args.update(channel=channel_id or args["channel"], ts=ts)
        # Checked again here: the render may predate a send of the same message in this batch.
        if method == "chat.update" and call.ts_of is not None:
            coalescer.hold(call.ts_of)
        if call.coalesce_as is not None:
            coalescer.hold(call.coalesce_as)
        if call.thread_of is not None:
            channel_id, ts = _stored_ts(engine, call.thread_of)
            if ts is None:
                raise DeferredDelivery(
                    "the message this reply goes under is not posted yet",
                    retry_after=WAIT_FOR_MESSAGE,
                )
            args.update(channel=channel_id or args["channel"], thread_ts=ts)
        if method == "chat.postMessage":
            pacer.wait(str(args.get("channel")))
        try:
            response = client.api_call(method, json=args)
        except SlackApiError as exc:
            raise classify(exc, call, claimed.id) from exc
        except SlackClientError as exc:  # no answer at all: a network problem
            raise RetryableDeliveryError(f"Slack {method}: {exc}") from exc
        for target in (call.ts_of, call.coalesce_as):
            if target is not None:
                coalescer.sent(target)
        return {
            "method": method,
            "channel": response.get("channel") or args.get("channel"),
            "ts": response.get("ts") or args.get("ts"),
        }

    def recorded(session: Session, claimed: Claimed, result: Mapping[str, Any]) -> None:
        call = claimed.rendered
        if not isinstance(call, SlackCall) or result.get("skipped"):
            return
        if call.ts_of is not None and result.get("ts"):
            row = _message_owner(session, call.ts_of)
            if row is not None:
                row.slack_ts = str(result["ts"])
                row.slack_channel_id = str(result.get("channel") or row.slack_channel_id or "")
                if isinstance(row, Incident) and (row.delivery_error or "").startswith("slack"):
                    row.delivery_error = None  # a later post or update went through
                session.add(row)
        if call.recorded is not None:
            call.recorded(session, claimed, result)

    return Handler(send=send, render=render, recorded=recorded, name="slack")
