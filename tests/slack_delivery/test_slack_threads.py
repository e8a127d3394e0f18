"""Timeline replies go in the incident message's thread; only escalation steps meant to
call people mention anyone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from delivery_helpers import deliver, fire, fire_and_post, gpu_group, incident, texts
from delivery_stub import SlackStub
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from oncall.catalog.models import EscalationPolicy
from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.incidents import flows
from oncall.incidents.models import Incident, IncidentStorm
from oncall.incidents.service import fire_due_escalations


def set_policy(engine: Engine, steps: list[dict[str, Any]]) -> None:
    with Session(engine) as s:
        policy = s.get(EscalationPolicy, "ds-default")
        assert policy is not None
        policy.steps = steps
        s.add(policy)
        s.commit()


def test_escalation_steps_reply_in_the_thread_and_call_exactly_who_they_name(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    set_policy(
        catalog,
        [
            {"after": "0m", "notify": ["oncall"]},
            {"after": "5m", "notify": ["oncall"]},
            {"after": "10m", "notify": ["person:ben"]},
            {"after": "15m", "notify": ["pagerduty"]},
            {"after": "20m", "notify": ["team_channel"]},
        ],
    )
    incident_id = fire_and_post(app_client, slack_settings, catalog, clock)
    posted = incident(catalog, incident_id)
    for minutes in (5, 10, 15, 20):
        clock.set(posted.triggered_at + timedelta(minutes=minutes, seconds=1))
        fire_due_escalations(engine=catalog, now=clock())
        deliver(slack_settings, catalog, clock)

    replies = [c.body for c in stub.of("chat.postMessage")[1:]]
    assert all(r["thread_ts"] == posted.slack_ts for r in replies)
    assert all(r["channel"] == "C0GROWTH01" for r in replies)
    reminder, ben, here = (r["text"] for r in replies)
    assert reminder.startswith("<@U0") and "Still not acknowledged." in reminder
    assert ben == "<@U0BEN00001> You are asked to help with this incident."
    assert here.startswith("<!here> ")
    # The PagerDuty step changed the message itself, not the thread.
    [update] = stub.of("chat.update")
    assert "escalated to PagerDuty" in "\n".join(texts(update.body["blocks"]))


def test_thread_text_is_escaped_so_a_bookkeeping_reply_pings_nobody(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    incident_id = fire_and_post(app_client, slack_settings, catalog, clock)
    with Session(catalog) as s:
        found = s.get(Incident, incident_id)
        assert found is not None
        flows.thread_message(
            session=s, incident=found, now=clock(), text="from alert: <!channel> & <@U999>"
        )
        s.commit()
    deliver(slack_settings, catalog, clock)
    reply = stub.of("chat.postMessage")[-1].body
    assert reply["text"] == "from alert: &lt;!channel&gt; &amp; &lt;@U999&gt;"


def test_a_storm_incident_replies_in_the_storm_message_thread(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    ids = [fire(app_client, gpu_group(n)) for n in range(4)]
    # The page-now policy's opening step mentions nobody in a thread; write one reply.
    with Session(catalog) as s:
        member = s.get(Incident, ids[3])
        assert member is not None and member.storm_id is not None
        storm_id = member.storm_id
        flows.thread_message(session=s, incident=member, now=clock(), text="node drained")
        s.commit()
    deliver(slack_settings, catalog, clock)
    with Session(catalog) as s:
        storm = s.get(IncidentStorm, storm_id)
        assert storm is not None and storm.slack_ts is not None
    reply = stub.of("chat.postMessage")[-1].body
    assert reply["thread_ts"] == storm.slack_ts
    assert reply["text"].startswith(f"#{ids[3]} ") and reply["text"].endswith(": node drained")


def test_a_storm_reply_waits_while_the_storm_message_is_rate_limited(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    from delivery_stub import Answer

    from oncall.outbox import OutboxMessage

    for n in range(3):
        fire(app_client, gpu_group(n))
    deliver(slack_settings, catalog, clock)
    stub.script(
        "chat.postMessage",
        Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "20"}),
    )
    fourth = fire(app_client, gpu_group(3))
    fire(app_client, gpu_group(4))
    with Session(catalog) as s:
        member = s.get(Incident, fourth)
        assert member is not None
        flows.thread_message(session=s, incident=member, now=clock(), text="cordoned")
        s.commit()
    first = deliver(slack_settings, catalog, clock)
    assert first.retried == 1 and first.deferred == 1  # the storm post; the reply waits
    with Session(catalog) as s:
        reply = next(r for r in s.exec(select(OutboxMessage)) if r.kind == "thread_message")
        assert reply.attempts == 0 and reply.last_error is None

    clock.advance(timedelta(seconds=21))
    deliver(slack_settings, catalog, clock)
    storm_post, answer = stub.of("chat.postMessage")[-2:]
    assert "Incident storm: 2 incidents" in str(storm_post.body["blocks"])
    assert answer.body["thread_ts"] == "1700000004.000100"
    assert answer.body["text"].endswith(": cordoned")
