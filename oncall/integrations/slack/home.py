"""App Home: my next shifts (in my time zone), my open incidents with their buttons, who is on
call now in my rotations, and buttons to ask for a swap or add an override.

Published on `app_home_opened` (which also records that the person has opened it) and after
every action taken from it; refreshed through the outbox (`home_refresh` rows, see
`oncall.homes`) when an incident, override or swap it shows changes.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session, col, select

from oncall import homes
from oncall.catalog.models import Model, Rotation, Team
from oncall.catalog.service import get_person, list_rotations
from oncall.incidents.models import Incident, IncidentStatus
from oncall.integrations.slack.actions import Action
from oncall.integrations.slack.blocks import incident_buttons
from oncall.integrations.slack.bot import Bot, drop_repeated_events
from oncall.integrations.slack.commands import incident_line, local
from oncall.integrations.slack.replies import refusal
from oncall.integrations.slack.text import escape
from oncall.rca.models import RcaDocument
from oncall.readiness.service import prs_at
from oncall.rotations.permissions import rotation_members
from oncall.rotations.queries import current_shift, person_shifts

log = logging.getLogger(__name__)

SHIFTS_AHEAD = timedelta(days=14)
MAX_SHIFTS = 10
MAX_INCIDENTS = 10  # each takes two blocks; a view holds at most 100
MAX_MODELS = 20


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def _button(label: str, action: Action, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action.value,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def home_view(bot: Bot, session: Session, me: str, notice: str | None = None) -> dict[str, Any]:
    now = bot.now()
    person = get_person(session=session, person_id=me)
    blocks: list[dict[str, Any]] = []
    if notice:
        blocks += [_section(notice), {"type": "divider"}]
    blocks.append(_header("My next shifts"))
    shifts = person_shifts(session=session, person_id=me, start=now, end=now + SHIFTS_AHEAD)
    lines = [
        f"• {local(s.start, person.timezone)} → {local(s.end, person.timezone)} "
        f"({s.rotation_id}{', swapped' if s.source == 'swap' else ''}"
        f"{', override' if s.source == 'override' else ''})"
        for s in shifts[:MAX_SHIFTS]
    ]
    blocks.append(
        _section(
            "\n".join(lines) + f"\n_times in {person.timezone}_"
            if lines
            else "No shifts in the next two weeks."
        )
    )
    blocks.append(
        {
            "type": "actions",
            "block_id": "home-rotation",
            "elements": [
                _button("Ask for a swap", Action.home_swap, "swap"),
                _button("Add an override", Action.home_override, "override"),
            ],
        }
    )
    blocks.append(_header("My open incidents"))
    mine = list(
        session.exec(
            select(Incident)
            .where(col(Incident.status) != IncidentStatus.resolved)
            .where((col(Incident.assignee_id) == me) | (col(Incident.acknowledged_by) == me))
            .order_by(col(Incident.id).desc())
            .limit(MAX_INCIDENTS)
        )
    )
    if not mine:
        blocks.append(_section("None. :sunny:"))
    for incident in mine:
        blocks += [
            _section(incident_line(bot, session, incident)),
            incident_buttons(incident, has_rca=session.get(RcaDocument, incident.id) is not None),
        ]
    blocks.append(_header("On call now in my rotations"))
    rotations: list[Rotation] = [
        r for r in list_rotations(session=session) if me in rotation_members(r)
    ]
    lines = []
    for rotation in rotations:
        shift = current_shift(session=session, rotation_id=rotation.id, at=now)
        who = bot.mention(session, shift.person_id if shift else None)
        lines.append(f"*{rotation.id}*: {who}")
    blocks.append(_section("\n".join(lines) or "You are in no rotation."))
    blocks.append(_header("My team's models"))
    blocks.append(_section(_models_text(session, me, rotations, now)))
    return {"type": "home", "blocks": blocks}


def _models_text(session: Session, me: str, rotations: list[Rotation], now: datetime) -> str:
    """Each model of my teams (those of my rotations, and those I lead) with its latest PRS."""
    teams = {r.team_id for r in rotations} | {
        t.id
        for t in session.exec(select(Team).where(col(Team.retired_at).is_(None)))
        if me in t.leads
    }
    models = list(
        session.exec(
            select(Model)
            .where(col(Model.team_id).in_(sorted(teams)))
            .where(col(Model.retired_at).is_(None))
            .order_by(col(Model.id))
            .limit(MAX_MODELS)
        )
    )
    lines = []
    for model in models:
        prs = prs_at(session, model.id, at=now)
        if prs is None or prs.percent is None:
            score = "PRS not scored yet"
        else:
            score = f"PRS {prs.percent:.0f}%{' (partial)' if prs.partial else ''}"
        lines.append(f"• *{escape(model.id)}* ({escape(model.team_id)}): {score}")
    return "\n".join(lines) or "No models in your teams."


def publish_home(
    bot: Bot, client: WebClient, slack_user: str, notice: str | None = None, opened: bool = False
) -> None:
    """views.publish of the person's App Home (a short notice for one who is not in the
    catalog). `opened`: the person has just opened it (recorded, so later changes refresh
    it)."""
    try:
        with bot.transaction() as session:
            me = bot.person_id(session, slack_user)
            if opened:
                homes.record_opened(session=session, person_id=me, now=bot.now())
            view = home_view(bot, session, me, notice)
    except Exception as exc:
        view = {"type": "home", "blocks": [_section(refusal(exc))]}
    try:
        client.views_publish(user_id=slack_user, view=view)
    except SlackApiError as exc:
        log.warning("views.publish failed for %s: %s", slack_user, exc.response.get("error"))


def register(app: App, bot: Bot) -> None:
    from oncall.integrations.slack.modals import open_modal

    def ack_only(ack: Ack) -> None:
        ack()

    def home_opened(client: WebClient, event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home":
            publish_home(bot, client, event.get("user", ""), opened=True)

    app.event("app_home_opened", middleware=[drop_repeated_events(bot)])(
        ack=ack_only, lazy=[home_opened]
    )

    def open_from_home(name: str) -> Any:
        def lazy(client: WebClient, body: dict[str, Any]) -> None:
            open_modal(
                bot,
                client,
                name=name,
                trigger_id=body.get("trigger_id", ""),
                slack_user=body.get("user", {}).get("id", ""),
                prefill={},
            )

        return lazy

    app.action(Action.home_swap.value)(ack=ack_only, lazy=[open_from_home("swap")])
    app.action(Action.home_override.value)(ack=ack_only, lazy=[open_from_home("override")])
