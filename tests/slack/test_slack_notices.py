"""The bot's own outbox kinds: hand-off notices with the open incidents, DMs, user groups;
Slack's refusals and rate limits; what the console shows without credentials."""

from __future__ import annotations

from datetime import timedelta

from slack_helpers import Slack, deliver_slack, open_incident, outbox_rows
from sqlmodel import Session

from oncall.incidents.service import open_incidents_of_rotation
from oncall.integrations.console import console_handler
from oncall.outbox import Channel, MessageKind, OutboxMessage, deliver_channel
from oncall.rotations.handoffs import announce_handoffs_job


def hand_off_with_open_incident(slack: Slack) -> int:
    number = open_incident(slack)
    assert (
        announce_handoffs_job(
            engine=slack.engine, now=slack.clock(), open_incidents=open_incidents_of_rotation
        )
        == 0
    )
    # Taka holds the weekly shift and the nights; Monday 11:00 in New York it is Emily's.
    monday = slack.clock.advance(timedelta(days=6))
    assert (
        announce_handoffs_job(
            engine=slack.engine, now=monday, open_incidents=open_incidents_of_rotation
        )
        == 1
    )
    return number


def test_the_hand_off_notice_lists_the_incidents_still_open(slack: Slack) -> None:
    number = hand_off_with_open_incident(slack)
    (notice,) = outbox_rows(slack, MessageKind.channel_notice)
    assert notice.payload["incoming"] == "emily" and notice.payload["outgoing"] == "taka"
    assert [i["id"] for i in notice.payload["incidents"]] == [number]
    deliver_slack(slack)
    posts = {p["channel"]: p for p in slack.stub.calls("chat.postMessage")}
    assert "Still open (1):" in posts["C0GROWTH01"]["text"]
    assert f"#{number} *WARNING*" in posts["C0GROWTH01"]["text"]
    assert "You are now on call" in posts["U0EMILY001"]["text"]


def test_a_rate_limited_notice_waits_for_retry_after(slack: Slack) -> None:
    hand_off_with_open_incident(slack)
    slack.stub.answers["chat.postMessage"] = (
        429,
        {"ok": False, "error": "ratelimited"},
        {"Retry-After": "30"},
    )
    deliver_slack(slack)
    (notice,) = outbox_rows(slack, MessageKind.channel_notice)
    assert notice.delivered_at is None and notice.failed_at is None
    assert notice.next_attempt_at == slack.clock() + timedelta(seconds=30)
    del slack.stub.answers["chat.postMessage"]
    slack.clock.advance(timedelta(seconds=31))
    deliver_slack(slack)
    (notice,) = outbox_rows(slack, MessageKind.channel_notice)
    assert notice.delivered_at is not None


def test_a_channel_the_bot_is_not_in_fails_the_notice_for_good(slack: Slack) -> None:
    hand_off_with_open_incident(slack)
    slack.stub.answers["chat.postMessage"] = (200, {"ok": False, "error": "not_in_channel"}, {})
    deliver_slack(slack)
    (notice,) = outbox_rows(slack, MessageKind.channel_notice)
    assert notice.failed_at is not None and "not_in_channel" in (notice.last_error or "")


def test_a_person_without_slack_user_fails_their_dm_alone(slack: Slack) -> None:
    from oncall.catalog.models import Person

    with Session(slack.engine) as s:
        emily = s.get(Person, "emily")
        assert emily is not None
        emily.slack_user = None
        s.add(emily)
        s.commit()
    hand_off_with_open_incident(slack)
    deliver_slack(slack)
    (dm,) = outbox_rows(slack, MessageKind.direct_message)
    assert dm.failed_at is not None and "has no slack_user" in (dm.last_error or "")
    (notice,) = outbox_rows(slack, MessageKind.channel_notice)
    assert notice.delivered_at is not None


def test_a_delivered_calendar_link_is_not_kept_in_the_outbox(slack: Slack) -> None:
    slack.say("calendar", user="U0TAKA0001")
    deliver_slack(slack)
    (dm,) = slack.stub.calls("chat.postMessage")
    assert "/calendar/" in dm["text"] and dm["channel"] == "U0TAKA0001"
    (row,) = outbox_rows(slack, MessageKind.direct_message)
    assert row.delivered_at is not None
    assert "/calendar/" not in str(row.payload)


def test_without_credentials_the_console_shows_each_kind_readably(slack: Slack) -> None:
    hand_off_with_open_incident(slack)
    slack.say("calendar", user="U0TAKA0001")
    with Session(slack.engine) as s:
        s.add(
            OutboxMessage(
                channel=Channel.slack,
                kind=MessageKind.usergroup_update,
                payload={
                    "usergroup": "S0GROWTHOC",
                    "rotation_id": "growth-primary",
                    "people": ["emily"],
                },
                created_at=slack.clock(),
                attempts_since=slack.clock(),
                next_attempt_at=slack.clock(),
            )
        )
        s.commit()
    lines: list[str] = []
    deliver_channel(
        engine=slack.engine,
        channel=Channel.slack,
        handler=console_handler(lines.append),
        now=slack.clock,
    )
    text = "\n".join(lines)
    assert "hand-off of growth-primary: @emily now on call (was @taka)" in text
    assert "Slack DM @emily: you are now on call for growth-primary" in text
    assert "Slack DM @taka: your personal calendar feed link (not shown here)" in text
    assert "/calendar/" not in text
    assert "Slack user group S0GROWTHOC (growth-primary) := @emily" in text
