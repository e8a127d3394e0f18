"""The incident message as Slack receives it: posted once, updated in place, coalesced,
escaped, within Block Kit's limits; Slack's refusals and rate limits handled."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from delivery_helpers import (
    buttons,
    deliver,
    fire,
    fire_and_post,
    handler,
    incident,
    payload,
    texts,
)
from delivery_stub import Answer, SlackStub
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from oncall.catalog.models import Person
from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.incidents.models import EventKind, IncidentEvent
from oncall.integrations.slack import text as t
from oncall.integrations.slack.actions import Action
from oncall.outbox import OutboxMessage, deliver_channel, retry_message
from oncall.rca.models import RcaDocument


def mrkdwn_of(value: Any) -> list[str]:
    """Every mrkdwn text object's text, anywhere in the blocks."""
    if isinstance(value, list):
        return [text for item in value for text in mrkdwn_of(item)]
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            return [str(value["text"])]
        return [text for item in value.values() for text in mrkdwn_of(item)]
    return []


def slack_user_of(engine: Engine, person_id: str | None) -> str:
    with Session(engine) as s:
        person = s.get(Person, person_id)
        assert person is not None and person.slack_user
        return person.slack_user


def test_new_incident_is_one_message_with_mention_facts_runbook_and_buttons(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    incident_id = fire_and_post(app_client, slack_settings, catalog, clock)

    [post] = stub.of("chat.postMessage")
    body = post.body
    assert post.headers["Authorization"] == "Bearer xoxb-test-delivery"
    assert body["channel"] == "C0GROWTH01"
    shown = "\n".join(texts(body["blocks"]))
    on_call = incident(catalog, incident_id).assignee_id
    assert f"<@{slack_user_of(catalog, on_call)}>" in shown
    assert "`ltv` (Lifetime-value forecaster)" in shown and "Growth Data Science" in shown
    assert "*Job:* ltv-nightly-scoring" in shown
    assert "1 firing of 1" in shown
    assert "<!date^" in shown and "UTC>" in shown  # absolute, with a fallback
    assert "Triggered*, not acknowledged yet" in shown
    by_id = {b["action_id"]: b for b in buttons(body["blocks"])}
    assert (
        by_id[f"{Action.link}:0"]["url"] == "https://runbooks.example.com/batch/ltv-nightly-scoring"
    )
    assert by_id[f"{Action.link}:1"]["url"] == f"https://oncall.example.com/incidents/{incident_id}"
    assert [by_id[a]["value"] for a in (Action.acknowledge, Action.resolve, Action.escalate)] == [
        str(incident_id)
    ] * 3
    assert Action.rca not in by_id  # no RCA yet
    stored = incident(catalog, incident_id)
    assert stored.slack_ts is not None and stored.slack_channel_id == "C0GROWTH01"


def test_drift_score_and_gpu_labels_are_shown(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    fire(app_client, payload("drift-firing"))
    fire(app_client, payload("gpu-xid-firing"))
    deliver(slack_settings, catalog, clock)
    drift, gpu = (c.body for c in stub.of("chat.postMessage"))
    assert "*Drift score:* 0.9" in "\n".join(texts(drift["blocks"]))
    gpu_text = "\n".join(texts(gpu["blocks"]))
    assert "*GPU node:* gpu-node-1, gpu-node-2" in gpu_text or "*GPU node:* gpu-node-" in gpu_text
    assert "*XID:* 79" in gpu_text
    assert gpu["channel"] == "C0MLPLAT01"


def test_hostile_alert_text_never_pings_and_unsafe_links_are_dropped(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    body = payload("batch-failure-firing")
    hostile = "<!channel> rollback & <@U123> now <https://evil.example|click> <!here>"
    body["commonAnnotations"]["summary"] = hostile
    for alert in body["alerts"]:
        alert["annotations"]["description"] = hostile
        alert["annotations"]["runbook_url"] = "javascript:alert(1)"
        alert["labels"]["job_name"] = "<!everyone>"
    fire(app_client, body)
    deliver(slack_settings, catalog, clock)

    [post] = stub.of("chat.postMessage")
    # Slack acts on mentions in mrkdwn and in the message text (plain_text is shown as is).
    parsed = [post.body["text"], *mrkdwn_of(post.body["blocks"])]
    for forbidden in ("<!channel>", "<@U123>", "<!here>", "<!everyone>", "<https://evil"):
        assert not [p for p in parsed if forbidden in p]
    raw = json.dumps(post.body)
    shown = "\n".join(texts(post.body["blocks"]))
    assert "&lt;!channel&gt; rollback &amp; &lt;@U123&gt;" in shown
    assert "javascript:" not in raw
    urls = [b["url"] for b in buttons(post.body["blocks"]) if "url" in b]
    assert all(u.startswith("https://") for u in urls)
    assert "&lt;!channel&gt;" in post.body["text"]  # the notification text too


def test_long_alert_text_is_cut_to_block_kit_limits_with_a_link_to_the_page(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    body = payload("batch-failure-firing")
    body["commonAnnotations"]["summary"] = "T" * 1000
    for alert in body["alerts"]:
        alert["annotations"]["description"] = "&<>" * 5000
    incident_id = fire(app_client, body)
    deliver(slack_settings, catalog, clock)

    blocks = stub.of("chat.postMessage")[0].body["blocks"]
    assert len(blocks) <= t.MAX_BLOCKS
    header = next(b for b in blocks if b["type"] == "header")
    assert len(header["text"]["text"]) <= t.MAX_HEADER
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    assert all(len(s) <= t.MAX_SECTION_TEXT for s in sections)
    cut = next(s for s in sections if s.startswith("&amp;&lt;&gt;"))
    assert cut.endswith(
        f"… <https://oncall.example.com/incidents/{incident_id}|more on the incident page>"
    )
    # Cut between entities, never inside one.
    assert cut.split("…")[0].endswith(("&amp;", "&lt;", "&gt;"))
    assert all(len(b["text"]["text"]) <= t.MAX_BUTTON_LABEL for b in buttons(blocks))


def test_rapid_changes_become_one_update_of_the_stored_ts_with_the_latest_state(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    incident_id = fire_and_post(app_client, slack_settings, catalog, clock)
    ts = incident(catalog, incident_id).slack_ts

    clock.advance(timedelta(seconds=1))
    assert app_client.post(f"/api/v1/incidents/{incident_id}/ack", json={"by": "ryan"}).is_success
    clock.advance(timedelta(seconds=1))
    fire(app_client, payload("batch-failure-firing") | {"status": "firing"})  # a re-send
    assert app_client.post(
        f"/api/v1/incidents/{incident_id}/resolve", json={"by": "emily"}
    ).is_success
    report = deliver(slack_settings, catalog, clock)

    assert report.delivered == 2  # the ack's update was skipped, the resolve's sent
    [update] = stub.of("chat.update")
    assert update.body["ts"] == ts and update.body["channel"] == "C0GROWTH01"
    shown = "\n".join(texts(update.body["blocks"]))
    assert f"*Resolved* by <@{slack_user_of(catalog, 'emily')}>" in shown
    assert {b.get("action_id") for b in buttons(update.body["blocks"])} & {
        Action.acknowledge,
        Action.resolve,
        Action.escalate,
    } == set()
    assert len(stub.of("chat.postMessage")) == 1


def test_changes_within_seconds_of_the_last_update_wait_and_go_as_one(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    slack = handler(slack_settings, catalog, clock)  # one process: it remembers its updates
    incident_id = fire(app_client, payload("batch-failure-firing"))
    deliver(slack_settings, catalog, clock, slack)
    clock.advance(timedelta(seconds=1))
    app_client.post(f"/api/v1/incidents/{incident_id}/ack", json={"by": "ryan"})
    waiting = deliver(slack_settings, catalog, clock, slack)
    assert (waiting.deferred, waiting.delivered) == (1, 0)
    clock.advance(timedelta(seconds=1))
    app_client.post(f"/api/v1/incidents/{incident_id}/resolve", json={"by": "emily"})
    assert deliver(slack_settings, catalog, clock, slack).claimed == 0  # not due yet
    assert stub.of("chat.update") == []

    clock.advance(timedelta(seconds=1))  # 3 s after the post
    deliver(slack_settings, catalog, clock, slack)
    [update] = stub.of("chat.update")
    assert "*Resolved* by" in "\n".join(texts(update.body["blocks"]))
    with Session(catalog) as s:
        rows = s.exec(select(OutboxMessage).where(OutboxMessage.kind == "update_incident"))
        # Waiting is not failing: no error recorded, no attempt counted against the row.
        assert [(r.last_error, r.attempts) for r in rows] == [(None, 1), (None, 1)]


def test_the_state_line_says_who_acknowledged_and_the_rca_button_appears_once_an_rca_exists(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    incident_id = fire_and_post(app_client, slack_settings, catalog, clock)
    app_client.post(f"/api/v1/incidents/{incident_id}/ack", json={"by": "ryan"})
    deliver(slack_settings, catalog, clock)
    first = stub.of("chat.update")[-1].body
    assert f"*Acknowledged* by <@{slack_user_of(catalog, 'ryan')}>" in "\n".join(
        texts(first["blocks"])
    )
    ids = [b.get("action_id") for b in buttons(first["blocks"])]
    assert Action.acknowledge not in ids and Action.resolve in ids and Action.rca not in ids

    with Session(catalog) as s:
        s.add(RcaDocument(incident_id=incident_id, generated_at=clock(), updated_at=clock()))
        s.commit()
    app_client.post(f"/api/v1/incidents/{incident_id}/resolve", json={"by": "ryan"})
    deliver(slack_settings, catalog, clock)
    last = stub.of("chat.update")[-1].body
    [rca] = [b for b in buttons(last["blocks"]) if b.get("action_id") == Action.rca]
    assert rca["value"] == str(incident_id)


def test_resolved_by_alertmanager_says_so(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    fire(app_client, payload("drift-firing"))
    deliver(slack_settings, catalog, clock)
    clock.advance(timedelta(minutes=5))
    fire(app_client, payload("drift-resolved"))
    deliver(slack_settings, catalog, clock)
    [update] = stub.of("chat.update")
    assert "*Resolved* by Alertmanager (all alerts resolved)" in "\n".join(
        texts(update.body["blocks"])
    )


def test_a_429_waits_for_retry_after_then_posts(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    stub.script(
        "chat.postMessage",
        Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}),
    )
    incident_id = fire(app_client, payload("batch-failure-firing"))
    first = deliver(slack_settings, catalog, clock)
    assert first.retried == 1 and first.delivered == 0
    with Session(catalog) as s:
        [row] = s.exec(select(OutboxMessage).where(OutboxMessage.kind == "post_incident"))
        assert row.next_attempt_at >= clock() + timedelta(seconds=30)
        assert "429" in (row.last_error or "")

    clock.advance(timedelta(seconds=29))
    assert deliver(slack_settings, catalog, clock).claimed == 0
    assert len(stub.of("chat.postMessage")) == 1
    clock.advance(timedelta(seconds=1, milliseconds=500))
    assert deliver(slack_settings, catalog, clock).delivered == 1
    assert len(stub.of("chat.postMessage")) == 2
    assert incident(catalog, incident_id).slack_ts is not None


@pytest.mark.parametrize(
    "answer",
    [
        Answer(200, {"ok": False, "error": "message_limit_exceeded"}),
        Answer(500, "<html>oops</html>"),
        Answer(503, {"ok": False, "error": "service_unavailable"}),
    ],
    ids=["message_limit_exceeded", "500", "503"],
)
def test_busy_or_failing_slack_is_retried(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
    answer: Answer,
) -> None:
    stub.script("chat.postMessage", answer)
    fire(app_client, payload("batch-failure-firing"))
    assert deliver(slack_settings, catalog, clock).retried == 1
    clock.advance(timedelta(minutes=1))
    assert deliver(slack_settings, catalog, clock).delivered == 1


def test_slack_unreachable_is_retried(
    app_client: TestClient, catalog: Engine, clock: FrozenClock
) -> None:
    settings = Settings(
        ONCALL_DATABASE_URL="sqlite://",
        SLACK_BOT_TOKEN="xoxb-test-delivery",
        ONCALL_SLACK_API_URL="http://127.0.0.1:9/api/",  # discard port: nothing listens
    )
    fire(app_client, payload("batch-failure-firing"))
    report = deliver(settings, catalog, clock)
    assert report.retried == 1 and report.failed == 0


def test_not_in_channel_fails_for_good_shows_the_fix_and_a_retry_posts(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    stub.script("chat.postMessage", Answer(200, {"ok": False, "error": "not_in_channel"}))
    incident_id = fire(app_client, payload("batch-failure-firing"))
    assert deliver(slack_settings, catalog, clock).failed == 1

    refused = incident(catalog, incident_id)
    assert refused.slack_ts is None
    assert "invite the bot to C0GROWTH01: type `/invite @oncall` there" in (
        refused.delivery_error or ""
    )
    with Session(catalog) as s:
        events = s.exec(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .where(IncidentEvent.kind == EventKind.delivery_failed)
        ).all()
        assert len(events) == 1 and "/invite @oncall" in events[0].text
        [row] = s.exec(select(OutboxMessage).where(col(OutboxMessage.failed_at).is_not(None)))
        assert f"oncall outbox retry {row.id}" in (refused.delivery_error or "")
    page = app_client.get(f"/incidents/{incident_id}")
    assert "/invite @oncall" in page.text

    # The operator invites the bot, then replays the row.
    with Session(catalog) as s:
        retry_message(session=s, message_id=row.id or 0, now=clock())
        s.commit()
    assert deliver(slack_settings, catalog, clock).delivered == 1
    fixed = incident(catalog, incident_id)
    assert fixed.slack_ts is not None and fixed.delivery_error is None


@pytest.mark.parametrize("error", ["channel_not_found", "invalid_auth", "is_archived"])
def test_other_refusals_fail_for_good_with_their_fix(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
    error: str,
) -> None:
    stub.script("chat.postMessage", Answer(200, {"ok": False, "error": error}))
    incident_id = fire(app_client, payload("batch-failure-firing"))
    assert deliver(slack_settings, catalog, clock).failed == 1
    shown = incident(catalog, incident_id).delivery_error or ""
    assert error in shown
    assert {
        "channel_not_found": "slack_channel",
        "invalid_auth": "SLACK_BOT_TOKEN",
        "is_archived": "archived",
    }[error] in shown


def test_an_update_after_a_refused_post_posts_the_message(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    stub.script("chat.postMessage", Answer(200, {"ok": False, "error": "not_in_channel"}))
    incident_id = fire_and_post(app_client, slack_settings, catalog, clock)
    app_client.post(f"/api/v1/incidents/{incident_id}/ack", json={"by": "ryan"})
    deliver(slack_settings, catalog, clock)
    assert len(stub.of("chat.postMessage")) == 2 and stub.of("chat.update") == []
    assert incident(catalog, incident_id).slack_ts is not None


def test_the_ts_survives_a_restart_and_later_changes_update_it(
    catalog: Engine, slack_settings: Settings, clock: FrozenClock, stub: SlackStub
) -> None:
    from oncall.app import create_app

    with TestClient(create_app(slack_settings, engine=catalog, clock=clock, background=False)) as c:
        incident_id = fire(c, payload("batch-failure-firing"))
        deliver(slack_settings, catalog, clock, handler(slack_settings, catalog, clock))
    posted = stub.of("chat.postMessage")[0]
    # A new process: a new app, a new handler and Web API client, the same database.
    with TestClient(create_app(slack_settings, engine=catalog, clock=clock, background=False)) as c:
        c.post(f"/api/v1/incidents/{incident_id}/ack", json={"by": "ryan"})
        deliver(slack_settings, catalog, clock, handler(slack_settings, catalog, clock))
    [update] = stub.of("chat.update")
    assert update.body["ts"] == "1700000001.000100"
    assert len(stub.of("chat.postMessage")) == 1 and posted.body["channel"] == "C0GROWTH01"


def test_a_crash_between_send_and_record_repeats_at_most_that_one_post(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    first = fire(app_client, payload("batch-failure-firing"))
    second = fire(app_client, payload("drift-firing"))
    real = handler(slack_settings, catalog, clock)

    def crash(*_args: object) -> None:
        raise SystemExit("killed after the post, before its ts was stored")

    from dataclasses import replace

    with pytest.raises(SystemExit):
        deliver_channel(
            engine=catalog, channel="slack", handler=replace(real, recorded=crash), now=clock
        )
    assert len(stub.of("chat.postMessage")) == 1
    assert incident(catalog, first).slack_ts is None

    clock.advance(timedelta(seconds=61))  # the dead worker's lease runs out
    deliver(slack_settings, catalog, clock, real)
    posts = [c.body["blocks"] for c in stub.of("chat.postMessage")]
    assert len(posts) == 3  # the first incident's post repeated once, the second's once
    page = f"https://oncall.example.com/incidents/{first}"
    assert sum(1 for b in posts if page in json.dumps(b)) == 2
    assert incident(catalog, first).slack_ts == "1700000002.000100"
    assert incident(catalog, second).slack_ts is not None
