"""Buttons on incident messages and swap requests: one press acts once, refusals are
ephemeral and name who may, answers come from the recorded Web API calls."""

from __future__ import annotations

from datetime import timedelta

from slack_helpers import BEN, EMILY, RYAN, TAKA, Slack, incident, open_incident, outbox_rows

from oncall.incidents.models import IncidentStatus
from oncall.integrations.slack.actions import Action
from oncall.outbox import MessageKind


def test_acknowledge_button_acknowledges_and_answers_ephemerally(slack: Slack) -> None:
    number = open_incident(slack)
    response = slack.press(Action.acknowledge, str(number), user=TAKA)
    assert response.status_code == 200
    (reply,) = slack.stub.wait_for("chat.postEphemeral")
    assert reply == {
        "channel": "C0GROWTH01",
        "user": TAKA,
        "text": f":white_check_mark: You acknowledged incident #{number}.",
        "team_id": "T0TEST0001",
    }
    assert incident(slack, number).acknowledged_by == "taka"
    # The message itself is the outbox's: one update, not a chat.update from the button.
    assert len(outbox_rows(slack, MessageKind.update_incident)) == 1
    assert "chat.update" not in slack.stub.methods()


def test_resolve_button_from_someone_outside_the_rotation_is_refused_naming_who_may(
    slack: Slack,
) -> None:
    number = open_incident(slack)
    slack.press(Action.resolve, str(number), user=BEN)
    (reply,) = slack.stub.wait_for("chat.postEphemeral")
    assert reply["user"] == BEN
    assert "only members of rotation growth-primary and the team's leads" in reply["text"]
    assert "(emily, ryan, taka)" in reply["text"]
    assert incident(slack, number).status == IncidentStatus.triggered


def test_resolve_button_by_the_team_lead_resolves(slack: Slack) -> None:
    number = open_incident(slack)
    slack.press(Action.resolve, str(number), user=EMILY)
    (reply,) = slack.stub.wait_for("chat.postEphemeral")
    assert "You resolved incident" in reply["text"]
    assert incident(slack, number).resolved_by == "emily"


def test_a_double_click_on_escalate_fires_one_step(slack: Slack) -> None:
    number = open_incident(slack)
    slack.press(Action.escalate, str(number), user=RYAN)
    slack.press(Action.escalate, str(number), user=RYAN)
    replies = slack.stub.wait_for("chat.postEphemeral", 2)
    assert sorted(r["text"][:12] for r in replies) == [":repeat: Alr", ":rotating_li"]
    assert len(outbox_rows(slack, MessageKind.trigger)) == 1


def test_a_retried_button_delivery_acts_once_even_after_the_double_click_window(
    slack: Slack,
) -> None:
    number = open_incident(slack)
    slack.press(Action.escalate, str(number), user=RYAN, trigger_id="same-trigger")
    slack.clock.advance(timedelta(minutes=2))
    slack.press(
        Action.escalate,
        str(number),
        user=RYAN,
        trigger_id="same-trigger",
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    replies = slack.stub.wait_for("chat.postEphemeral", 2)
    assert sorted(r["text"][:12] for r in replies) == [":repeat: Alr", ":rotating_li"]
    assert len(outbox_rows(slack, MessageKind.trigger)) == 1


def test_rca_button_drafts_the_rca_once_and_links_it(slack: Slack) -> None:
    number = open_incident(slack)
    slack.press(Action.rca, str(number), user=TAKA)
    (reply,) = slack.stub.wait_for("chat.postEphemeral")
    assert f"<https://oncall.example.com/rca/{number}|open the RCA>" in reply["text"]
    assert "drafted it now" in reply["text"]
    # The draft's link goes to the incident's thread, and the message gains its RCA button.
    (thread,) = outbox_rows(slack, MessageKind.thread_message)
    assert f"/rca/{number}" in thread.payload["text"]

    slack.clock.advance(timedelta(seconds=30))
    slack.press(Action.rca, str(number), user=RYAN, trigger_id="second-press")
    replies = slack.stub.wait_for("chat.postEphemeral", 2)
    assert "status *draft*" in replies[1]["text"]
    assert len(outbox_rows(slack, MessageKind.thread_message)) == 1  # not drafted twice


def test_a_button_pressed_by_someone_not_in_the_catalog_says_how_to_be_added(
    slack: Slack,
) -> None:
    number = open_incident(slack)
    slack.press(Action.acknowledge, str(number), user="U0STRANGER")
    (reply,) = slack.stub.wait_for("chat.postEphemeral")
    assert "slack_user: U0STRANGER" in reply["text"]
    assert incident(slack, number).status == IncidentStatus.triggered


def test_link_buttons_are_acknowledged_and_do_nothing(slack: Slack) -> None:
    response = slack.press(Action.link, "https://oncall.example.com/incidents/1")
    assert response.status_code == 200
    assert slack.stub.methods() == ["auth.test"]


def test_two_presses_arriving_at_the_same_time_fire_one_step(slack: Slack) -> None:
    from concurrent.futures import ThreadPoolExecutor

    number = open_incident(slack)
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(lambda _: slack.press(Action.escalate, str(number), user=RYAN), range(2))
        )
    assert [a.status_code for a in answers] == [200, 200]
    replies = slack.stub.wait_for("chat.postEphemeral", 2)
    assert sorted(r["text"][:12] for r in replies) == [":repeat: Alr", ":rotating_li"]
    assert len(outbox_rows(slack, MessageKind.trigger)) == 1
