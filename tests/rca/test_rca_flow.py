"""When an incident resolves, the leader's job drafts its RCA (ingest itself never does), posts
the link in the incident's thread and gives the message its RCA button; follow-through."""

from __future__ import annotations

from datetime import timedelta

from rca_helpers import PUBLIC, T0, ingest, outbox_rows, provider, rca, resolve, score
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from oncall import outbox
from oncall.clock import FrozenClock
from oncall.integrations.console import console_handler
from oncall.metrics import ServiceMetrics
from oncall.outbox import Channel, MessageKind
from oncall.rca import service
from oncall.rca.models import RcaDocument
from oncall.scheduler import Background


def leader(engine: Engine, clock: FrozenClock) -> Background:
    background = Background(
        engine=engine,
        handlers={},
        clock=clock,
        metrics=ServiceMetrics(engine),
        lease_clock=FrozenClock(T0),
        identity="leader",
        public_url=PUBLIC,
    )
    assert background.elect()
    return background


def run_rca_job(background: Background) -> int | None:
    [job] = [j for j in background.jobs if j.name == "rca-drafts"]
    return background.run_job(job)


def documents(engine: Engine) -> list[int]:
    with Session(engine) as s:
        return list(s.exec(select(RcaDocument.incident_id).order_by(RcaDocument.incident_id)))


def test_resolution_drafts_the_rca_through_the_leader_job_once(catalog: Engine) -> None:
    clock = FrozenClock(T0)
    background = leader(catalog, clock)
    churn = ingest(catalog, "drift-firing", T0)
    still_open = ingest(catalog, "batch-failure-firing", T0)
    ingest(catalog, "drift-resolved", T0 + timedelta(minutes=40))
    assert documents(catalog) == []  # resolving wrote no RCA inline

    clock.advance(timedelta(minutes=41))
    assert run_rca_job(background) == 1
    assert run_rca_job(background) == 0

    assert documents(catalog) == [churn]
    kinds = [(r.kind, r.payload.get("reason")) for r in outbox_rows(catalog, churn)]
    assert kinds[-2:] == [(MessageKind.thread_message, None), (MessageKind.update_incident, "rca")]
    assert [r.kind for r in outbox_rows(catalog, still_open)].count("thread_message") == 0


def test_the_thread_message_reaches_the_console_with_the_link(catalog: Engine) -> None:
    clock = FrozenClock(T0 + timedelta(hours=1))
    churn = ingest(catalog, "drift-firing", T0)
    ingest(catalog, "drift-resolved", T0 + timedelta(minutes=40))
    run_rca_job(leader(catalog, clock))
    printed: list[str] = []

    console = console_handler(printed.append)
    outbox.deliver_due(
        engine=catalog,
        handlers={Channel.slack: console, Channel.pagerduty: console, Channel.console: console},
        now=clock,
    )

    lines = [" ".join(line.split()) for line in printed]
    assert any(
        f"Slack C0GROWTH01: thread RCA draft: {PUBLIC}/rca/{churn}" in line for line in lines
    ), printed
    # The message, rendered when it is sent, has gained its RCA button.
    assert any("| [RCA]" in line for line in printed), printed


def test_incidents_resolved_long_ago_are_not_drafted_by_the_job(catalog: Engine) -> None:
    old = ingest(catalog, "drift-firing", T0)
    resolve(catalog, old, "emily", T0 + timedelta(minutes=5))

    assert run_rca_job(leader(catalog, FrozenClock(T0 + timedelta(days=8)))) == 0
    assert documents(catalog) == []
    # On demand it still can be.
    assert rca(catalog, old, T0 + timedelta(days=8)).created


def test_overdue_lists_rcas_with_open_items_past_due_and_follow_through_counts_them(
    catalog: Engine,
) -> None:
    gaps = score(
        "churn", T0, {"testing.integration": "manual", "operations.rollback_plan": "missing"}
    )
    first = ingest(catalog, "drift-firing", T0)
    resolve(catalog, first, "emily", T0 + timedelta(minutes=5))
    rca(catalog, first, T0 + timedelta(minutes=10), provider(gaps))  # due in 30 days
    with Session(catalog) as s:
        service.action_done(
            session=s, incident_id=first, number=1, now=T0 + timedelta(days=3)
        )  # on time
        s.commit()
    later = T0 + timedelta(days=31)

    with Session(catalog) as s:
        overdue = service.list_documents(session=s, now=later, overdue=True)
        assert [d.incident_id for d in overdue] == [first]
        assert service.list_documents(session=s, now=T0 + timedelta(days=1), overdue=True) == []
        result = service.follow_through(session=s, now=later, model_id="churn")
    assert (result.due, result.on_time, result.late, result.open) == (2, 1, 0, 1)
    assert result.percent == 50.0
