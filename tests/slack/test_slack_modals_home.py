"""The override form's submission, App Home, and events delivered twice."""

from __future__ import annotations

from datetime import UTC, datetime

from slack_helpers import (
    BEN,
    RYAN,
    TAKA,
    Slack,
    open_incident,
    picked_time,
    selected,
)
from sqlmodel import Session, select

from oncall.integrations.slack.actions import Action
from oncall.rotations.models import Override

START = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)
END = datetime(2026, 3, 4, 22, 0, tzinfo=UTC)


def override_form(person: str, start: datetime, end: datetime) -> dict[str, object]:
    return {
        "person": selected(person),
        "rotation": selected("growth-primary"),
        "from": picked_time(start),
        "to": picked_time(end),
    }


def overrides(slack: Slack) -> list[Override]:
    with Session(slack.engine) as s:
        return list(s.exec(select(Override)))


def test_submitting_the_override_form_adds_it_and_confirms_in_the_channel(slack: Slack) -> None:
    response = slack.submit("override_modal", override_form("ryan", START, END), user=RYAN)
    assert response.status_code == 200 and response.text == ""
    (override,) = overrides(slack)
    assert (override.person_id, override.starts_at, override.ends_at) == ("ryan", START, END)
    (confirm,) = slack.stub.wait_for("chat.postEphemeral")
    assert confirm["channel"] == "C0GROWTH01" and "Override" in confirm["text"]


def test_a_submitted_form_delivered_twice_adds_one_override(slack: Slack) -> None:
    slack.submit("override_modal", override_form("ryan", START, END), user=RYAN)
    slack.submit("override_modal", override_form("ryan", START, END), user=RYAN)
    assert len(overrides(slack)) == 1


def test_a_refused_form_shows_the_reason_on_the_field_and_adds_nothing(slack: Slack) -> None:
    response = slack.submit("override_modal", override_form("ryan", END, START), user=RYAN)
    answer = response.json()
    assert answer["response_action"] == "errors"
    assert "before it starts" in answer["errors"]["to"]
    response = slack.submit(
        "override_modal", override_form("taka", START, END), user=RYAN, view_id="V2"
    )
    assert "may not add overrides for others" in response.json()["errors"]["person"]
    response = slack.submit(
        "override_modal", override_form("ben", START, END), user=BEN, view_id="V3"
    )
    assert "only members of rotation growth-primary" in response.json()["errors"]["person"]
    assert overrides(slack) == []


def test_app_home_shows_my_shifts_my_incidents_with_buttons_and_who_is_on_call(
    slack: Slack,
) -> None:
    number = open_incident(slack)  # assigned to Taka, on call now
    response = slack.event({"type": "app_home_opened", "user": TAKA, "tab": "home"})
    assert response.status_code == 200
    (published,) = slack.stub.wait_for("views.publish")
    assert published["user_id"] == TAKA
    view = published["view"]
    assert view["type"] == "home"
    text = " ".join(
        b.get("text", {}).get("text", "") for b in view["blocks"] if b["type"] != "actions"
    )
    assert "My next shifts" in text and "Asia/Tokyo" in text
    assert f"#{number}>" in text
    assert "*growth-primary*: <@U0TAKA0001>" in text
    actions = [b for b in view["blocks"] if b["type"] == "actions"]
    ids = {(e["action_id"], e["value"]) for b in actions for e in b["elements"]}
    assert (Action.acknowledge.value, str(number)) in ids
    assert (Action.home_swap.value, "swap") in ids
    assert (Action.home_override.value, "override") in ids


def test_a_button_pressed_on_app_home_refreshes_it_with_the_outcome(slack: Slack) -> None:
    number = open_incident(slack)
    slack.press(
        Action.acknowledge,
        str(number),
        user=TAKA,
        channel=None,
        view={"type": "home", "id": "VHOME"},
        container={"type": "view"},
    )
    (published,) = slack.stub.wait_for("views.publish")
    first = published["view"]["blocks"][0]["text"]["text"]
    assert first == f":white_check_mark: You acknowledged incident #{number}."
    assert "chat.postEphemeral" not in slack.stub.methods()


def test_home_buttons_open_the_swap_and_override_forms(slack: Slack) -> None:
    slack.press(
        Action.home_override,
        "override",
        user=RYAN,
        channel=None,
        view={"type": "home"},
        container={"type": "view"},
    )
    slack.stub.wait_for("views.open")
    (updated,) = slack.stub.wait_for("views.update")
    assert updated["view"]["callback_id"] == "override_modal"


def test_an_event_slack_delivers_again_is_handled_once(slack: Slack) -> None:
    event = {"type": "app_home_opened", "user": RYAN, "tab": "home"}
    slack.event(event, event_id="Ev42")
    slack.stub.wait_for("views.publish")
    response = slack.event(event, event_id="Ev42", headers={"X-Slack-Retry-Num": "1"})
    assert response.status_code == 200
    slack.event(event, event_id="Ev43")
    slack.stub.wait_for("views.publish", 2)
    assert slack.stub.methods().count("views.publish") == 2
