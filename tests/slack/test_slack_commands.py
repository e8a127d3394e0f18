"""/oncall subcommands, each answered ephemerally from the real database."""

from __future__ import annotations

from datetime import timedelta

from slack_helpers import ANA, BEN, EMILY, RYAN, TAKA, Slack, incident, open_incident, outbox_rows
from sqlmodel import Session, col, select

from oncall.incidents.models import IncidentStatus
from oncall.outbox import MessageKind
from oncall.rotations.models import CalendarToken, Override


def test_who_names_the_person_on_call_in_each_rotation_with_a_real_mention(slack: Slack) -> None:
    text = slack.say("who")
    # T0 is in the ninth week of the weekly layer: Taka; Berlin's daily layer: Ana or Ben.
    assert "*growth-primary*: <@U0TAKA0001> until" in text
    assert "*platform-primary*:" in text
    assert slack.say("who growth-primary").count("\n") == 0


def test_who_of_an_unknown_rotation_says_so_with_the_usage(slack: Slack) -> None:
    text = slack.say("who nope")
    assert "Unknown rotation 'nope'" in text


def test_schedule_lists_the_final_shifts_in_the_askers_time_zone(slack: Slack) -> None:
    text = slack.say("schedule growth-primary 14", user=TAKA)
    assert "next 14 day(s)" in text and "Asia/Tokyo" in text
    assert "<@U0EMILY001>" in text  # next week's weekly shift is Emily's
    assert "<@U0TAKA0001>" in text


def test_schedule_without_a_rotation_uses_the_askers_only_rotation(slack: Slack) -> None:
    assert "*platform-primary*" in slack.say("schedule", user=ANA)


def test_schedule_with_bad_days_gets_the_usage(slack: Slack) -> None:
    text = slack.say("schedule growth-primary 400")
    assert "days must be between 1 and 90" in text
    assert "Usage: `/oncall schedule [rotation] [days]`" in text


def test_incidents_lists_open_ones_and_mine_only_the_askers(slack: Slack) -> None:
    assert slack.say("incidents") == "No open incidents."
    first = open_incident(slack)
    text = slack.say("incidents open")
    assert f"#{first}>" in text and "*WARNING*" in text
    assert "https://oncall.example.com/incidents/" in text
    assert f"#{first}>" in slack.say("incidents mine", user=TAKA)  # Taka is on call
    assert slack.say("incidents mine", user=BEN) == "No open incidents of yours."
    assert "show open or mine" in slack.say("incidents closed")


def test_incident_text_from_alerts_is_escaped_so_it_never_pings(slack: Slack) -> None:
    open_incident(slack, "unicode-and-injection")
    text = slack.say("incidents")
    assert "<!channel>" not in text and "<@U123>" not in text
    assert "&lt;!channel&gt;" in text


def test_ack_acknowledges_and_the_incident_message_is_updated_through_the_outbox(
    slack: Slack,
) -> None:
    number = open_incident(slack)
    text = slack.say(f"ack {number}", user=BEN)  # anyone in the catalog may acknowledge
    assert text == f":white_check_mark: You acknowledged incident #{number}."
    found = incident(slack, number)
    assert found.status == IncidentStatus.acknowledged and found.acknowledged_by == "ben"
    assert [r.payload["reason"] for r in outbox_rows(slack, MessageKind.update_incident)] == [
        "acknowledged"
    ]


def test_ack_without_a_number_or_of_an_unknown_incident_explains(slack: Slack) -> None:
    assert "which incident?" in slack.say("ack")
    assert "Usage: `/oncall ack <id>`" in slack.say("ack twelve")
    assert "Unknown incident 999" in slack.say("ack 999")


def test_resolve_is_refused_politely_to_someone_outside_the_rotation_naming_who_may(
    slack: Slack,
) -> None:
    number = open_incident(slack)
    text = slack.say(f"resolve {number} fixed it", user=BEN)
    assert text.startswith(":no_entry: Sorry, only members of rotation growth-primary")
    assert "emily, ryan, taka" in text
    assert incident(slack, number).status == IncidentStatus.triggered
    text = slack.say(f"resolve {number} retrained the model", user=RYAN)
    assert text == f":large_green_circle: You resolved incident #{number}."
    assert incident(slack, number).resolved_by == "ryan"


def test_escalate_fires_the_next_step_for_members_only(slack: Slack) -> None:
    number = open_incident(slack)
    assert "Sorry, only members" in slack.say(f"escalate {number}", user=ANA)
    text = slack.say(f"escalate {number}", user=EMILY)
    assert f"Escalated incident #{number}: step 2: pagerduty" in text
    assert len(outbox_rows(slack, MessageKind.trigger)) == 1


def test_the_same_escalate_sent_twice_within_seconds_acts_once(slack: Slack) -> None:
    number = open_incident(slack)
    slack.say(f"escalate {number}", user=EMILY)
    again = slack.say(f"escalate {number}", user=EMILY)
    assert "already done" in again
    assert len(outbox_rows(slack, MessageKind.trigger)) == 1
    slack.clock.advance(timedelta(seconds=30))  # later, it is a new request
    assert "step 3" in slack.say(f"escalate {number}", user=EMILY)


def test_a_retried_command_with_the_same_trigger_acts_once(slack: Slack) -> None:
    number = open_incident(slack)
    slack.say(f"escalate {number}", user=EMILY, trigger_id="T-retry")
    slack.clock.advance(timedelta(minutes=1))
    again = slack.say(
        f"escalate {number}", user=EMILY, trigger_id="T-retry", headers={"X-Slack-Retry-Num": "1"}
    )
    assert "already done" in again
    assert len(outbox_rows(slack, MessageKind.trigger)) == 1


def test_override_with_arguments_adds_it_in_the_askers_time_zone(slack: Slack) -> None:
    text = slack.say("override <@U0RYAN0001|ryan> 2026-03-04T09:00 2026-03-04T17:00", user=RYAN)
    assert "covers *growth-primary*" in text
    with Session(slack.engine) as s:
        (override,) = s.exec(select(Override)).all()
    assert override.person_id == "ryan" and override.created_by == "ryan"
    assert override.starts_at.isoformat() == "2026-03-04T14:00:00+00:00"  # 09:00 in New York
    slack.clock.set(override.starts_at + timedelta(hours=1))
    assert slack.say("who growth-primary").startswith("*growth-primary*: <@U0RYAN0001> until")
    assert ", override" in slack.say("who growth-primary")


def test_override_for_someone_else_is_for_leads_only(slack: Slack) -> None:
    text = slack.say("override @taka 2026-03-04T09:00 2026-03-04T17:00", user=RYAN)
    assert "may not add overrides for others" in text
    assert "covers" in slack.say("override @taka 2026-03-04T09:00 2026-03-04T17:00", user=EMILY)
    assert "Sorry, only members of rotation growth-primary" in slack.say(
        "override @ben 2026-03-04T09:00 2026-03-04T17:00 growth-primary", user=BEN
    )


def test_override_with_a_bad_time_names_the_field_and_the_usage(slack: Slack) -> None:
    text = slack.say("override @ryan tomorrow 2026-03-04T17:00", user=RYAN)
    assert "from 'tomorrow' is not a date and time" in text
    assert "Usage: `/oncall override @user <from> <to> [rotation]`" in text
    text = slack.say("override @ryan 2026-03-04T17:00 2026-03-04T09:00", user=RYAN)
    assert "ends" in text and "before it starts" in text


def test_override_without_arguments_opens_the_form_at_once_then_fills_it(slack: Slack) -> None:
    response = slack.command("override", user=RYAN)
    assert response.status_code == 200 and response.text == ""
    (opened,) = slack.stub.wait_for("views.open")
    assert opened["trigger_id"].endswith(".trigger")
    assert "Loading" in opened["view"]["blocks"][0]["text"]["text"]
    (updated,) = slack.stub.wait_for("views.update")
    assert updated["view_id"] == "V0VIEW0001"
    blocks = {b["block_id"]: b for b in updated["view"]["blocks"]}
    assert set(blocks) == {"person", "rotation", "from", "to"}
    assert blocks["person"]["element"]["initial_option"]["value"] == "ryan"
    assert blocks["rotation"]["element"]["initial_option"]["value"] == "growth-primary"


def test_calendar_sends_the_personal_feed_link_by_dm_once(slack: Slack) -> None:
    assert "sent you your personal calendar feed link by DM" in slack.say("calendar", user=TAKA)
    (dm,) = outbox_rows(slack, MessageKind.direct_message)
    assert dm.payload["person"] == "taka" and dm.payload["topic"] == "calendar"
    assert dm.payload["url"].startswith("https://oncall.example.com/calendar/")
    again = slack.say("calendar", user=TAKA)
    assert "You already have a personal calendar feed" in again
    assert len(outbox_rows(slack, MessageKind.direct_message)) == 1
    slack.clock.advance(timedelta(minutes=1))
    slack.say("calendar new", user=TAKA)
    with Session(slack.engine) as s:
        tokens = list(s.exec(select(CalendarToken).order_by(col(CalendarToken.id))))
    assert [t.revoked_at is not None for t in tokens] == [True, False]
    assert (
        slack.client.get(dm.payload["url"].replace("https://oncall.example.com", "")).status_code
        == 404
    )


def test_capabilities_still_to_come_say_not_available_yet(slack: Slack) -> None:
    for text in ("gpu", "insights growth-ds"):
        assert "not available yet" in slack.say(text)


def test_prs_lists_the_models_and_one_models_gaps(slack: Slack) -> None:
    table = slack.say("prs")
    assert "MODEL" in table and "churn" in table and "ltv" in table
    churn = slack.say("prs churn")
    assert "declared evidence only (no snapshot yet)" in churn
    assert "Top gaps:" in churn and "churn (growth-ds): PRS" in churn


def test_prs_answers_from_the_latest_snapshot_when_there_is_one(slack: Slack) -> None:
    from oncall.readiness.service import take_snapshot

    with Session(slack.engine) as s:
        take_snapshot(s, "churn", now=slack.clock())
        s.commit()
    slack.clock.advance(timedelta(hours=1))
    assert f"snapshot of {slack.clock() - timedelta(hours=1):%Y-%m-%d %H:%M} UTC" in slack.say(
        "prs churn"
    )


def test_prs_of_an_unknown_model_or_too_many_arguments_is_refused(slack: Slack) -> None:
    assert "nope" in slack.say("prs nope")
    assert "one model id at most" in slack.say("prs churn ltv")


def test_rca_drafts_and_links_the_incidents_rca(slack: Slack) -> None:
    number = open_incident(slack)
    text = slack.say(f"rca {number}")
    assert f"https://oncall.example.com/rca/{number}" in text and "drafted it now" in text
    assert "not an incident number" in slack.say("rca abc")
    assert "such as `/oncall rca 12`" in slack.say("rca")
    assert "999" in slack.say("rca 999")


def test_an_override_is_shown_in_the_team_channel(slack: Slack) -> None:
    from slack_helpers import deliver_slack

    slack.say("override @ryan 2026-03-04T09:00 2026-03-04T17:00", user=RYAN)
    (notice,) = outbox_rows(slack, MessageKind.channel_notice)
    assert notice.payload["topic"] == "override" and notice.payload["channel"] == "C0GROWTH01"
    deliver_slack(slack)
    (post,) = slack.stub.calls("chat.postMessage")
    assert post["channel"] == "C0GROWTH01"
    assert post["text"] == (
        ":calendar: *growth-primary*: <@U0RYAN0001> covers from Wed 04 Mar 09:00 to "
        "Wed 04 Mar 17:00 (America/New_York), set by <@U0RYAN0001>."
    )


def test_override_for_a_slack_user_outside_the_catalog_names_them_not_the_asker(
    slack: Slack,
) -> None:
    text = slack.say("override <@U0GHOST001|ghost> 2026-03-04T09:00 2026-03-04T17:00", user=EMILY)
    assert "U0GHOST001" in text and "is in no slack_user of the catalog" in text
    assert "I don't know you" not in text


def test_who_follows_a_catalog_change_at_once(slack: Slack) -> None:
    """`who` keeps the rotation list per catalog revision: a `config apply` that adds or
    retires a rotation shows in the very next answer."""
    from pathlib import Path

    from oncall.catalog.loader import load_catalog
    from oncall.catalog.service import apply_catalog

    assert "*platform-primary*:" in slack.say("who")
    spec = load_catalog(Path(__file__).resolve().parents[1] / "fixtures" / "oncall.yaml")
    spec = spec.model_copy(
        update={
            "rotations": [r for r in spec.rotations if r.id != "platform-primary"],
            "routes": [],
        }
    )
    with Session(slack.engine) as s:
        apply_catalog(session=s, spec=spec, now=slack.clock())
        s.commit()
    text = slack.say("who")
    assert "*growth-primary*:" in text
    assert "platform-primary" not in text
