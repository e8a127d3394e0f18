"""Modals: add an override, ask for a swap.

A modal opens at once from the trigger id (it expires after 3 s) with a loading state, and is
then filled in with `views.update` once its choices are read from the database. A submission
is checked by the domain; a refusal names the field at fault in the form itself.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session

from oncall.catalog.service import get_person, get_rotation, list_people, list_rotations
from oncall.errors import DomainError, InvalidRequest
from oncall.integrations.slack import seen
from oncall.integrations.slack.bot import Bot, NotInCatalog
from oncall.integrations.slack.commands import create_override, local
from oncall.integrations.slack.replies import refusal
from oncall.integrations.slack.swaps import ANYONE, request_from_slack, upcoming_shifts
from oncall.rotations.permissions import rotation_members

log = logging.getLogger(__name__)

MAX_OPTIONS = 100  # a static_select holds at most 100 options


class Modal(StrEnum):
    """callback_id of each modal."""

    override = "override_modal"
    swap = "swap_modal"


# Which block of a form a domain error's field points at.
_FIELD_BLOCK = {
    "start": "from",
    "end": "to",
    "person_id": "person",
    "rotation_id": "rotation",
    "to_person_id": "to",
    "from_person_id": "shift",
    "shift_start": "shift",
    "layer": "shift",
    "shift": "shift",
    "to": "to",
}


def _text(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:75] or "-"}


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": _plain(label), "value": value}


def _select(
    block_id: str, label: str, options: list[dict[str, Any]], initial: str | None = None
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": "value",
        "options": options[:MAX_OPTIONS],
    }
    chosen = next((o for o in options if o["value"] == initial), None)
    if chosen is not None:
        element["initial_option"] = chosen
    return {"type": "input", "block_id": block_id, "label": _plain(label), "element": element}


def _view(
    modal: Modal,
    title: str,
    blocks: list[dict[str, Any]],
    *,
    submit: bool = True,
    metadata: str = "",
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": modal.value,
        "title": _plain(title[:24]),
        "close": _plain("Cancel"),
        "blocks": blocks,
        "private_metadata": metadata,
    }
    if submit:
        view["submit"] = _plain("Submit")
    return view


def loading(modal: Modal, title: str) -> dict[str, Any]:
    return _view(
        modal, title, [{"type": "section", "text": _text(":hourglass: Loading…")}], submit=False
    )


def notice_view(modal: Modal, title: str, text: str) -> dict[str, Any]:
    return _view(modal, title, [{"type": "section", "text": _text(text)}], submit=False)


def override_view(bot: Bot, session: Session, me: str, metadata: str) -> dict[str, Any]:
    people = [_option(p.name, p.id) for p in list_people(session=session)]
    rotations = list_rotations(session=session)
    mine = [r.id for r in rotations if me in rotation_members(r)]
    now = int(bot.now().timestamp())
    blocks = [
        _select("person", "Who covers", people, initial=me),
        _select(
            "rotation",
            "Rotation",
            [_option(r.id, r.id) for r in rotations],
            initial=mine[0] if len(mine) == 1 else None,
        ),
        _when("from", "From", now),
        _when("to", "To", now + 8 * 3600),
    ]
    return _view(Modal.override, "Add an override", blocks, metadata=metadata)


def _when(block_id: str, label: str, initial: int) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label),
        "element": {"type": "datetimepicker", "action_id": "value", "initial_date_time": initial},
    }


def swap_view(bot: Bot, session: Session, me: str, metadata: str) -> dict[str, Any]:
    shifts = upcoming_shifts(session, me, bot.now())
    if not shifts:
        return notice_view(
            Modal.swap, "Ask for a swap", "You have no shifts in the next 8 weeks to swap."
        )
    timezone = get_person(session=session, person_id=me).timezone
    from oncall.integrations.slack.swaps import shift_value

    shift_options = [
        _option(
            f"{local(s.start, timezone)} → {local(s.end, timezone)} ({s.rotation_id}, {s.layer})",
            shift_value(s),
        )
        for s in shifts
    ]
    people = [_option("Anyone in the rotation", ANYONE)] + [
        _option(p.name, p.id) for p in list_people(session=session) if p.id != me
    ]
    blocks = [
        _select("shift", "Your shift", shift_options, initial=shift_options[0]["value"]),
        _select("to", "Ask", people, initial=ANYONE),
        {
            "type": "input",
            "block_id": "note",
            "optional": True,
            "label": _plain("Note"),
            "element": {"type": "plain_text_input", "action_id": "value", "max_length": 500},
        },
    ]
    return _view(Modal.swap, "Ask for a swap", blocks, metadata=metadata)


_BUILDERS = {
    "override": (Modal.override, "Add an override", override_view),
    "swap": (Modal.swap, "Ask for a swap", swap_view),
}


def open_modal(
    bot: Bot,
    client: WebClient,
    *,
    name: str,
    trigger_id: str,
    slack_user: str,
    prefill: dict[str, Any],
    channel_id: str | None = None,
) -> None:
    """views.open at once (loading), then views.update with the form."""
    modal, title, build = _BUILDERS[name]
    try:
        opened = client.views_open(trigger_id=trigger_id, view=loading(modal, title))
    except SlackApiError as exc:
        log.warning("views.open failed: %s", exc.response.get("error"))
        return
    view_id = (opened.get("view") or {}).get("id")
    try:
        with bot.transaction() as session:
            me = bot.person_id(session, slack_user)
            view = build(bot, session, me, channel_id or "")
    except Exception as exc:
        view = notice_view(modal, title, refusal(exc))
    try:
        client.views_update(view_id=view_id, view=view)
    except SlackApiError as exc:
        log.warning("views.update failed: %s", exc.response.get("error"))


def _values(view: dict[str, Any]) -> dict[str, Any]:
    """block id -> the submitted value (selected option's value, timestamp or text)."""
    out: dict[str, Any] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        element = actions.get("value") or {}
        if element.get("selected_option"):
            out[block_id] = element["selected_option"]["value"]
        elif element.get("selected_date_time") is not None:
            out[block_id] = datetime.fromtimestamp(int(element["selected_date_time"]), UTC)
        elif element.get("value") is not None:
            out[block_id] = element["value"]
    return out


def _errors(exc: Exception, first_block: str) -> dict[str, str]:
    field = exc.field if isinstance(exc, InvalidRequest) else None
    block = _FIELD_BLOCK.get(field or "", first_block)
    return {block: refusal(exc).replace("*", "")[:150]}


def submitted(bot: Bot, modal: Modal, first_block: str) -> Any:
    def on_submit(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
    ) -> None:
        user = body.get("user", {}).get("id", "")
        values = _values(view)
        try:
            with bot.transaction() as session:
                me = bot.person_id(session, user)
                if not seen.first_time(
                    session=session, key=f"view:{view.get('id')}", now=bot.now()
                ):
                    ack()
                    return
                context["reply"] = _apply(bot, session, modal, me, values)
        except (DomainError, NotInCatalog) as exc:
            ack(response_action="errors", errors=_errors(exc, first_block))
            return
        except Exception as exc:
            ack(response_action="errors", errors={first_block: refusal(exc)[:150]})
            return
        ack()

    return on_submit


def _apply(bot: Bot, session: Session, modal: Modal, me: str, values: dict[str, Any]) -> str:
    if modal is Modal.override:
        if "rotation" not in values:
            raise InvalidRequest("pick a rotation", field="rotation_id")
        return create_override(
            bot,
            session,
            me=me,
            rotation=get_rotation(session=session, rotation_id=values["rotation"]),
            person_id=values.get("person", me),
            start=values["from"],
            end=values["to"],
        )
    return request_from_slack(
        bot,
        session,
        me=me,
        shift=values.get("shift", ""),
        to=values.get("to", ANYONE),
        note=values.get("note"),
    )


def confirm(bot: Bot) -> Any:
    """After a submission: tell the person where they ran the command (or on App Home)."""

    def lazy(
        client: WebClient, body: dict[str, Any], view: dict[str, Any], context: BoltContext
    ) -> None:
        text = context.get("reply")
        if not text:
            return
        user = body.get("user", {}).get("id", "")
        channel = view.get("private_metadata") or None
        try:
            if channel:
                client.chat_postEphemeral(channel=channel, user=user, text=text)
            else:
                from oncall.integrations.slack.home import publish_home

                publish_home(bot, client, user, notice=text)
        except SlackApiError as exc:
            log.warning("could not confirm to %s: %s", user, exc.response.get("error"))

    return lazy


def register(app: App, bot: Bot) -> None:
    app.view(Modal.override.value)(
        ack=submitted(bot, Modal.override, "person"), lazy=[confirm(bot)]
    )
    app.view(Modal.swap.value)(ack=submitted(bot, Modal.swap, "shift"), lazy=[confirm(bot)])
