"""Storms: more than 3 incidents opening in one channel within 10 s are gathered into one
message for the channel, updated in place as more arrive; each stays a full incident."""

from __future__ import annotations

from datetime import timedelta

from delivery_helpers import buttons, deliver, fire, gpu_group, incident, texts
from delivery_stub import SlackStub
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.incidents.models import IncidentStorm
from oncall.integrations.slack.actions import Action
from oncall.outbox import OutboxMessage


def test_the_fourth_incident_in_ten_seconds_starts_a_storm_message_updated_in_place(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    ids = []
    for n in range(6):  # a cluster failure: six nodes within three seconds
        ids.append(fire(app_client, gpu_group(n)))
        clock.advance(timedelta(milliseconds=500))
    deliver(slack_settings, catalog, clock)

    posts = stub.of("chat.postMessage")
    assert len(posts) == 4  # three incident messages, then one storm message
    own, storm = posts[:3], posts[3]
    for call, incident_id in zip(own, ids[:3], strict=True):
        assert f"/incidents/{incident_id}" in str(call.body["blocks"])
    shown = "\n".join(texts(storm.body["blocks"]))
    assert "Incident storm: 3 incidents (3 open)" in shown
    assert "*Severities:* 3 critical" in shown
    for incident_id in ids[3:]:
        assert f"<https://oncall.example.com/incidents/{incident_id}|#{incident_id}>" in shown
    acks = [
        b["value"] for b in buttons(storm.body["blocks"]) if b["action_id"] == Action.acknowledge
    ]
    assert acks == [str(i) for i in ids[3:]]
    with Session(catalog) as s:
        [gathered] = s.exec(select(IncidentStorm)).all()
        storm_ts = gathered.slack_ts
        assert storm_ts is not None and gathered.slack_channel_id == storm.body["channel"]
        # Two of the three storm rows were superseded by the third: one post, not three.
        skipped = [r for r in s.exec(select(OutboxMessage)) if r.result.get("skipped")]
        assert len(skipped) == 2
    for incident_id in ids[3:]:
        assert incident(catalog, incident_id).slack_ts is None  # shown on the storm message

    clock.advance(timedelta(seconds=5))  # the storm goes on
    seventh = fire(app_client, gpu_group(6))
    deliver(slack_settings, catalog, clock)
    [update] = stub.of("chat.update")
    assert update.body["ts"] == storm_ts
    assert f"#{seventh}>" in "\n".join(texts(update.body["blocks"]))
    assert "4 incidents (4 open)" in "\n".join(texts(update.body["blocks"]))
    assert len(stub.of("chat.postMessage")) == 4


def test_acknowledging_a_storm_incident_updates_the_storm_message(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    ids = [fire(app_client, gpu_group(n)) for n in range(5)]
    deliver(slack_settings, catalog, clock)
    storm_post = stub.of("chat.postMessage")[-1].body
    with Session(catalog) as s:
        [gathered] = s.exec(select(IncidentStorm)).all()
    app_client.post(f"/api/v1/incidents/{ids[4]}/ack", json={"by": "ana"})
    deliver(slack_settings, catalog, clock)
    [update] = stub.of("chat.update")
    assert update.body["ts"] == gathered.slack_ts
    blocks = update.body["blocks"]
    shown = "\n".join(texts(blocks))
    assert "2 incidents (2 open)" in shown and "acknowledged" in shown
    acks = [b["value"] for b in buttons(blocks) if b["action_id"] == Action.acknowledge]
    assert acks == [str(ids[3])]  # the acknowledged one has no Acknowledge button left
    assert storm_post["channel"] == update.body["channel"]


def test_after_a_quiet_spell_incidents_get_their_own_messages_again(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    for n in range(4):
        fire(app_client, gpu_group(n))
    deliver(slack_settings, catalog, clock)
    assert len(stub.of("chat.postMessage")) == 4
    clock.advance(timedelta(seconds=11))
    later = fire(app_client, gpu_group(10))
    deliver(slack_settings, catalog, clock)
    assert len(stub.of("chat.postMessage")) == 5 and stub.of("chat.update") == []
    assert incident(catalog, later).slack_ts is not None


def test_other_channels_are_not_part_of_a_storm(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    from delivery_helpers import payload

    for n in range(4):
        fire(app_client, gpu_group(n))
    drift = fire(app_client, payload("drift-firing"))  # growth's channel
    deliver(slack_settings, catalog, clock)
    assert incident(catalog, drift).storm_id is None
    assert incident(catalog, drift).slack_channel_id == "C0GROWTH01"


def test_a_storm_lists_what_block_kit_allows_and_counts_the_rest(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    for n in range(3 + 30):
        fire(app_client, gpu_group(n))
    deliver(slack_settings, catalog, clock)
    storm = stub.of("chat.postMessage")[-1].body["blocks"]
    assert len(storm) <= 50
    shown = "\n".join(texts(storm))
    assert "30 incidents" in shown and "…and 10 more" in shown


def test_the_console_shows_a_storm_message_once_per_window_with_its_latest_state(
    app_client: TestClient, catalog: Engine, slack_settings: Settings, clock: FrozenClock
) -> None:
    # `oncall serve` without Slack credentials: the console shows what Slack would get, and
    # a cluster failure must not print the whole storm message for every incident.
    from oncall.integrations.console import console_handler
    from oncall.outbox import deliver_due

    shown: list[str] = []
    console = console_handler(
        shown.append, settings=slack_settings, clock=clock, coalesce=timedelta(seconds=3)
    )

    def deliver_console() -> None:
        deliver_due(engine=catalog, handlers={"slack": console}, now=clock)

    def storm_renditions() -> list[str]:
        return [line for line in shown if "Incident storm" in line]

    for n in range(4):
        fire(app_client, gpu_group(n))
        clock.advance(timedelta(milliseconds=200))
    deliver_console()
    [first] = storm_renditions()
    assert "Incident storm: 1 incident" in first

    later = []
    for n in range(4, 9):  # five more within the window, each delivered as it comes
        later.append(fire(app_client, gpu_group(n)))
        clock.advance(timedelta(milliseconds=200))
        deliver_console()
    assert len(storm_renditions()) == 1  # held back, not dropped:
    with Session(catalog) as s:
        waiting = [
            r
            for r in s.exec(select(OutboxMessage))
            if r.channel == "slack" and r.delivered_at is None and r.failed_at is None
        ]
        assert waiting and all(r.attempts == 0 for r in waiting)  # a deferral is no failure

    clock.advance(timedelta(seconds=3))
    deliver_console()
    renditions = storm_renditions()
    assert len(renditions) == 2  # the rest became one rendition, with the latest state
    assert "6 incidents (6 open)" in renditions[1]
    for incident_id in later:
        assert f"#{incident_id}" in renditions[1]
    with Session(catalog) as s:
        pending = [
            r
            for r in s.exec(select(OutboxMessage))
            if r.channel == "slack" and r.delivered_at is None and r.failed_at is None
        ]
        assert pending == []
