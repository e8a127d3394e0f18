"""Buttons: Acknowledge, Resolve, Escalate now and RCA on incident messages (and App Home),
Take it / Decline on swap requests.

The ack function makes the change in one transaction (guarded against retries and double
clicks) and acks; the lazy listener then tells the person how it went: ephemerally in the
channel, by replacing a swap request's buttons, or on a refreshed App Home. The incident
message itself is updated through the outbox by the change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session

from oncall.errors import InvalidRequest
from oncall.incidents import service as incidents
from oncall.incidents.permissions import require_incident_permission
from oncall.integrations.slack import later, seen
from oncall.integrations.slack.actions import Action
from oncall.integrations.slack.bot import Bot
from oncall.integrations.slack.replies import answer
from oncall.integrations.slack.swaps import answer_swap
from oncall.integrations.slack.text import escape

log = logging.getLogger(__name__)

# Two presses of one button by one person this close together are one press.
DOUBLE_CLICK = timedelta(seconds=10)
ALREADY = ":repeat: Already done: that button was pressed twice."

Change = Callable[[Bot, Session, str, int], str]


def _acknowledge(bot: Bot, session: Session, me: str, incident_id: int) -> str:
    incidents.acknowledge(session=session, incident_id=incident_id, by=me, now=bot.now())
    return f":white_check_mark: You acknowledged incident #{incident_id}."


def _resolve(bot: Bot, session: Session, me: str, incident_id: int) -> str:
    incident = incidents.get_incident(session=session, incident_id=incident_id)
    require_incident_permission(session=session, incident=incident, by=me, what="resolve")
    incidents.resolve(session=session, incident_id=incident_id, by=me, now=bot.now())
    return f":large_green_circle: You resolved incident #{incident_id}."


def _escalate(bot: Bot, session: Session, me: str, incident_id: int) -> str:
    incident = incidents.get_incident(session=session, incident_id=incident_id)
    require_incident_permission(session=session, incident=incident, by=me, what="escalate")
    done = incidents.escalate(session=session, incident_id=incident_id, by=me, now=bot.now())
    return f":rotating_light: Escalated incident #{incident_id}: {escape(done)}."


def _rca(bot: Bot, session: Session, me: str, incident_id: int) -> str:
    return later.rca(bot, session, me, [str(incident_id)])


INCIDENT_BUTTONS: dict[Action, tuple[Change, bool]] = {
    # action: (what it does, whether it changes state and so is guarded against repeats)
    Action.acknowledge: (_acknowledge, True),
    Action.resolve: (_resolve, True),
    Action.escalate: (_escalate, True),
    Action.rca: (_rca, False),
}


def pressed(body: dict[str, Any]) -> tuple[str, str, str]:
    """(Slack user, action id, value) of a block_actions payload."""
    action = (body.get("actions") or [{}])[0]
    return body.get("user", {}).get("id", ""), action.get("action_id", ""), action.get("value", "")


def first_press(bot: Bot, session: Session, body: dict[str, Any]) -> bool:
    """False for a retry of this request or a second press within seconds."""
    user, action_id, value = pressed(body)
    now = bot.now()
    first = True
    if body.get("trigger_id"):
        first = seen.first_time(session=session, key=f"trigger:{body['trigger_id']}", now=now)
    again = seen.first_time(
        session=session, key=f"button:{user}:{action_id}:{value}", now=now, window=DOUBLE_CLICK
    )
    return first and again


def incident_button(bot: Bot, change: Change, guarded: bool) -> Callable[..., None]:
    def on_press(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        user, _action, value = pressed(body)

        def work(session: Session, me: str) -> str:
            try:
                incident_id = int(value)
            except ValueError:
                raise InvalidRequest(f"bad incident id {value!r} on the button") from None
            if guarded and not first_press(bot, session, body):
                return ALREADY
            return change(bot, session, me, incident_id)

        context["reply"] = answer(bot, user, work)

    return on_press


def tell(bot: Bot, client: WebClient, body: dict[str, Any], text: str) -> None:
    """Show `text` to the person who pressed: ephemeral in the channel, or on App Home."""
    user = body.get("user", {}).get("id", "")
    channel = (body.get("channel") or {}).get("id") or body.get("container", {}).get("channel_id")
    view = body.get("view") or {}
    try:
        if view.get("type") == "home" or channel is None:
            from oncall.integrations.slack.home import publish_home

            publish_home(bot, client, user, notice=text)
        else:
            client.chat_postEphemeral(channel=channel, user=user, text=text)
    except SlackApiError as exc:
        log.warning("could not answer %s in Slack: %s", user, exc.response.get("error"))


def register(app: App, bot: Bot) -> None:
    def reply(client: WebClient, body: dict[str, Any], context: BoltContext) -> None:
        if context.get("reply"):
            tell(bot, client, body, context["reply"])

    for action, (change, guarded) in INCIDENT_BUTTONS.items():
        app.action(action.value)(ack=incident_button(bot, change, guarded), lazy=[reply])

    def link_clicked(ack: Ack) -> None:
        ack()  # a link button opens its URL in the browser; Slack still tells the app

    app.action(Action.link.value)(link_clicked)

    for action, decision in ((Action.swap_take, "take"), (Action.swap_decline, "decline")):
        app.action(action.value)(ack=_swap_button(bot, decision), lazy=[_swap_answered(bot)])


def _swap_button(bot: Bot, decision: str) -> Callable[..., None]:
    def on_press(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        user, _action, value = pressed(body)

        def work(session: Session, me: str) -> str:
            if not first_press(bot, session, body):
                return ALREADY
            return answer_swap(bot, session, me=me, swap_value=value, decision=decision)

        context["reply"] = answer(bot, user, work)

    return on_press


def _swap_answered(bot: Bot) -> Callable[..., None]:
    def lazy(client: WebClient, body: dict[str, Any], context: BoltContext) -> None:
        text = context.get("reply") or ""
        container = body.get("container") or {}
        channel, ts = container.get("channel_id"), container.get("message_ts")
        if not (channel and ts) or text == ALREADY:
            tell(bot, client, body, text)
            return
        try:  # the request's buttons give way to the outcome, for this person
            client.chat_update(
                channel=channel,
                ts=ts,
                text=text,
                blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
            )
        except SlackApiError as exc:
            log.warning("could not update the swap request: %s", exc.response.get("error"))

    return lazy
