"""App Home follows changes: an incident, override or swap it shows changes, and the homes of
the people concerned (who have opened it) are published again, once per burst, with the
latest state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from slack_helpers import (
    ANA,
    EMILY,
    RYAN,
    TAKA,
    Slack,
    deliver_slack,
    open_incident,
    outbox_rows,
)
from sqlmodel import Session, select

from oncall.config import Settings
from oncall.homes import SlackHomeOpened
from oncall.integrations.slack.actions import Action
from oncall.integrations.slack.delivery import slack_handler
from oncall.integrations.slack.webapi import Pacer
from oncall.outbox import Channel, Handler, deliver_channel


def open_home(slack: Slack, user: str, event_id: str) -> None:
    before = len(slack.stub.calls("views.publish"))
    response = slack.event({"type": "app_home_opened", "user": user, "tab": "home"}, event_id)
    assert response.status_code == 200
    slack.stub.wait_for("views.publish", before + 1)


def home_text(view: dict[str, Any]) -> str:
    return " ".join(
        b.get("text", {}).get("text", "") for b in view["blocks"] if b["type"] != "actions"
    )


def published_to(slack: Slack) -> list[str]:
    return sorted(c["user_id"] for c in slack.stub.calls("views.publish"))


def one_handler(slack: Slack) -> Handler:
    settings = Settings(SLACK_BOT_TOKEN="xoxb-test-0001", ONCALL_SLACK_API_URL=slack.stub.url)
    return slack_handler(settings, engine=slack.engine, clock=slack.clock, pacer=Pacer(0))


def deliver_with(slack: Slack, handler: Handler) -> None:
    deliver_channel(engine=slack.engine, channel=Channel.slack, handler=handler, now=slack.clock)


def test_opening_the_app_home_is_recorded_once_per_person(slack: Slack) -> None:
    open_home(slack, TAKA, "Ev1")
    open_home(slack, TAKA, "Ev2")
    with Session(slack.engine) as s:
        (row,) = s.exec(select(SlackHomeOpened))
    assert row.person_id == "taka"


def test_an_ack_in_the_channel_republishes_the_ackers_and_the_assignees_home_once(
    slack: Slack,
) -> None:
    number = open_incident(slack)  # assigned to Taka
    open_home(slack, TAKA, "Ev1")
    open_home(slack, EMILY, "Ev2")
    deliver_slack(slack)  # the incident message
    slack.stub.clear()

    response = slack.press(Action.acknowledge, str(number), user=EMILY)
    assert response.status_code == 200
    deliver_slack(slack)

    assert published_to(slack) == [EMILY, TAKA]
    for call in slack.stub.calls("views.publish"):
        text = home_text(call["view"])
        assert f"#{number}>" in text
        assert "acknowledged, acked by <@U0EMILY001>" in text  # the state after the ack


def test_people_who_never_opened_the_app_home_get_no_refresh(slack: Slack) -> None:
    number = open_incident(slack)  # assigned to Taka, who has not opened it
    slack.stub.clear()
    slack.press(Action.acknowledge, str(number), user=RYAN)
    deliver_slack(slack)
    assert outbox_rows(slack, "home_refresh") == []
    assert "views.publish" not in slack.stub.methods()


def test_changes_in_a_burst_become_one_publish_with_the_latest_state(slack: Slack) -> None:
    number = open_incident(slack)
    open_home(slack, TAKA, "Ev1")
    deliver_slack(slack)
    slack.stub.clear()

    slack.press(Action.acknowledge, str(number), user=TAKA)
    assert "resolved" in slack.say(f"resolve {number} fixed the feature pipeline", user=TAKA)
    assert len(outbox_rows(slack, "home_refresh")) == 2
    deliver_slack(slack)

    (call,) = slack.stub.calls("views.publish")
    assert call["user_id"] == TAKA
    assert f"#{number}>" not in home_text(call["view"])  # resolved: no longer open


def test_a_second_change_seconds_after_a_publish_waits_then_shows_the_latest(
    slack: Slack,
) -> None:
    number = open_incident(slack)
    open_home(slack, TAKA, "Ev1")
    handler = one_handler(slack)
    deliver_with(slack, handler)
    slack.stub.clear()

    slack.press(Action.acknowledge, str(number), user=TAKA)
    deliver_with(slack, handler)
    assert published_to(slack) == [TAKA]
    slack.say(f"resolve {number}", user=TAKA)
    slack.clock.advance(timedelta(seconds=1))
    deliver_with(slack, handler)
    assert published_to(slack) == [TAKA]  # held back: published a second ago

    slack.clock.advance(timedelta(seconds=5))
    deliver_with(slack, handler)
    assert published_to(slack) == [TAKA, TAKA]
    latest = slack.stub.calls("views.publish")[-1]
    assert f"#{number}>" not in home_text(latest["view"])


def test_an_override_refreshes_the_homes_of_the_rotation_members_who_opened_it(
    slack: Slack,
) -> None:
    open_home(slack, RYAN, "Ev1")
    open_home(slack, ANA, "Ev2")  # in another rotation
    slack.stub.clear()
    now = slack.clock()
    start, end = now + timedelta(days=1), now + timedelta(days=1, hours=8)
    answer = slack.say(
        f"override <@{RYAN}|ryan> {start:%Y-%m-%dT%H:%M} {end:%Y-%m-%dT%H:%M} growth-primary",
        user=RYAN,
    )
    assert "override" in answer.lower()
    deliver_slack(slack)
    (call,) = slack.stub.calls("views.publish")
    assert call["user_id"] == RYAN
    assert "override" in home_text(call["view"])


def test_app_home_lists_my_teams_models_with_their_prs(slack: Slack) -> None:
    open_home(slack, EMILY, "Ev1")
    (call,) = slack.stub.calls("views.publish")
    text = home_text(call["view"])
    assert "My team's models" in text
    assert "*churn* (growth-ds): PRS not scored yet" in text
