"""PRS of catalog models: the talk's two models, our own history, snapshots, Prometheus down."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta

import pytest
from prs_helpers import PROM, T0, FixedEvidence, add_action_items, add_incident, talk_readings
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from oncall.catalog.models import Model
from oncall.errors import UnknownEntity
from oncall.integrations.prometheus import PrometheusEvidence
from oncall.readiness.checks import LIVE_CHECKS
from oncall.readiness.live import LiveReadings
from oncall.readiness.models import CheckStatus, ReadinessSnapshot
from oncall.readiness.service import (
    model_prs,
    models_prs,
    prs_at,
    take_daily_snapshots,
    take_snapshot,
)


@pytest.fixture
def db(catalog: Engine) -> Iterator[Session]:
    with Session(catalog, expire_on_commit=False) as session:
        yield session


def statuses(prs: object) -> dict[str, CheckStatus]:
    return {c.id: c.status for c in prs.checks}  # type: ignore[attr-defined]


def test_the_talks_two_models_land_near_80_and_under_10_percent(db: Session) -> None:
    live = FixedEvidence(talk_readings())
    churn, ltv = models_prs(db, now=T0, live=live)
    # churn: good tests, decent documentation, stable production.
    assert churn.percent is not None and 75 <= churn.percent <= 85
    assert churn.live and churn.minimum_percent == 62.5  # documentation: no model card
    # ltv: no tests, partial documentation, most batch runs failing.
    assert ltv.percent is not None and ltv.percent < 10
    assert statuses(ltv)["operations.batch"] is CheckStatus.failing
    assert statuses(ltv)["testing.unit"] is CheckStatus.missing
    assert ltv.minimum_percent == 0.0
    assert len(live.asked) == 1  # one reading of Prometheus for every model


def test_declared_only_scores_are_partial_and_never_count_live_checks_as_zero(
    db: Session,
) -> None:
    churn = model_prs(db, "churn", now=T0)
    assert not churn.live and churn.partial
    for check in churn.checks:
        if check.id in LIVE_CHECKS:
            assert check.status is CheckStatus.unknown and check.maximum == 0
    assert churn.maximum == 11 and churn.percent == pytest.approx(100 * 8 / 11, abs=0.1)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nobody listens there once closed


def test_prometheus_down_gives_a_partial_score_not_a_crash_or_a_zero(db: Session) -> None:
    live = PrometheusEvidence(f"http://127.0.0.1:{closed_port()}", timeout=1.0)
    declared = model_prs(db, "churn", now=T0)
    down = model_prs(db, "churn", now=T0, live=live)
    assert down.partial and not down.live
    assert down.percent == declared.percent  # the declared evidence still counts
    for check in down.checks:
        if check.id in LIVE_CHECKS:
            assert check.status is CheckStatus.unknown
            assert "did not answer: cannot connect" in check.evidence.detail
    asked = live.requests_made
    model_prs(db, "ltv", now=T0, live=live)
    assert live.requests_made == asked  # the outage is remembered briefly, not retried per model


def test_prometheus_that_accepts_but_never_answers_times_out_in_seconds(db: Session) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the backlog; nothing ever answers
        live = PrometheusEvidence(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
        prs = model_prs(db, "churn", now=T0, live=live)
    check = next(c for c in prs.checks if c.id == "observability.drift")
    assert check.status is CheckStatus.unknown
    assert "no answer within 0.5 s" in check.evidence.detail


def test_an_unknown_or_retired_model_is_an_unknown_entity(db: Session) -> None:
    with pytest.raises(UnknownEntity, match="unknown model 'nope'"):
        model_prs(db, "nope", now=T0)
    ltv = db.get(Model, "ltv")
    assert ltv is not None
    ltv.retired_at = T0
    db.add(ltv)
    db.flush()
    with pytest.raises(UnknownEntity, match="retired"):
        model_prs(db, "ltv", now=T0)
    assert [p.model_id for p in models_prs(db, now=T0)] == ["churn"]


def test_rca_follow_through_reads_the_action_items_due_in_the_last_90_days(db: Session) -> None:
    day = timedelta(days=1)
    add_action_items(
        db,
        "churn",
        T0 - 40 * day,
        [
            (T0 - 30 * day, T0 - 31 * day),  # done before its due date
            (T0 - 20 * day, T0 - 10 * day),  # done ten days late
            (T0 - 100 * day, None),  # fell due before the window: not counted
            (T0 + 5 * day, None),  # not yet due: not counted
        ],
    )
    check = next(c for c in model_prs(db, "churn", now=T0).checks if c.id == "operations.rca")
    assert check.status is CheckStatus.manual and check.points == 0.5
    assert "1 of 2 action items" in check.evidence.detail
    ltv = next(c for c in model_prs(db, "ltv", now=T0).checks if c.id == "operations.rca")
    assert ltv.status is CheckStatus.unknown  # another model's items are not ltv's


def test_incidents_of_the_last_30_days_are_shown_but_do_not_change_the_score(
    db: Session,
) -> None:
    before = model_prs(db, "churn", now=T0)
    for days in (1, 10, 29):
        add_incident(db, "churn", T0 - timedelta(days=days))
    add_incident(db, "churn", T0 - timedelta(days=31))
    after = model_prs(db, "churn", now=T0)
    assert (before.incidents_30d, after.incidents_30d) == (0, 3)
    assert after.percent == before.percent


def count_snapshots(db: Session) -> int:
    return int(db.exec(select(func.count()).select_from(ReadinessSnapshot)).one())


def test_prs_at_is_the_latest_snapshot_at_or_before_the_time(db: Session) -> None:
    assert prs_at(db, "churn", at=T0) is None
    first = take_snapshot(db, "churn", now=T0, live=FixedEvidence(talk_readings()))
    second = take_snapshot(db, "churn", now=T0 + timedelta(days=1))  # Prometheus gone
    db.commit()
    assert prs_at(db, "churn", at=T0 - timedelta(seconds=1)) is None
    at_first = prs_at(db, "churn", at=T0 + timedelta(hours=23))
    assert at_first == first and at_first.live  # the breakdown as it was, evidence and all
    assert prs_at(db, "churn", at=T0 + timedelta(days=5)) == second
    assert prs_at(db, "ltv", at=T0 + timedelta(days=5)) is None


def test_daily_snapshots_take_one_per_model_per_utc_day(db: Session) -> None:
    live = FixedEvidence(talk_readings())
    assert take_daily_snapshots(db, now=T0, live=live) == 2
    assert take_daily_snapshots(db, now=T0 + timedelta(hours=8), live=live) == 0  # 23:00 UTC
    assert count_snapshots(db) == 2
    assert take_daily_snapshots(db, now=T0 + timedelta(hours=9), live=live) == 2  # next day
    assert count_snapshots(db) == 4


def test_daily_snapshot_is_taken_for_a_model_added_later_the_same_day(db: Session) -> None:
    take_snapshot(db, "churn", now=T0)  # on demand, this morning
    assert take_daily_snapshots(db, now=T0 + timedelta(hours=1)) == 1  # only ltv was missing
    assert prs_at(db, "ltv", at=T0 + timedelta(hours=1)) is not None


def test_a_reading_error_is_kept_in_the_snapshot(db: Session) -> None:
    down = FixedEvidence(LiveReadings(source=PROM, at=T0, error="cannot connect"))
    stored = take_snapshot(db, "ltv", now=T0, live=down)
    again = prs_at(db, "ltv", at=T0)
    assert again == stored and again.partial and not again.live
