"""Production Readiness Score of models: computed from evidence, stored as snapshots.

`model_prs` scores one model now; `models_prs` scores many with one read of Prometheus and a
handful of queries, whatever their number. Snapshots keep the score as it was (daily by the
scheduler, and on demand), so `prs_at` answers "what was its PRS when the incident began".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import Session, col, select

from oncall.catalog.models import Model, Route
from oncall.catalog.schema import ReadinessSpec
from oncall.errors import InvalidRequest, UnknownEntity
from oncall.readiness.checks import (
    PUSHABLE_CHECKS,
    RCA_WINDOW,
    SECTIONS,
    ActionItemDue,
    ModelFacts,
    PushedRun,
    run_checks,
)
from oncall.readiness.live import LiveEvidence, LiveReadings
from oncall.readiness.models import (
    CheckResult,
    CheckStatus,
    Evidence,
    ModelPRS,
    ReadinessSnapshot,
    RecordedRun,
    SectionScore,
    score,
)

__all__ = [
    "CheckResult",
    "CheckStatus",
    "Evidence",
    "LiveEvidence",
    "LiveReadings",
    "ModelPRS",
    "SectionScore",
    "latest_scores",
    "model_prs",
    "models_prs",
    "prs_at",
    "record_run",
    "require_model",
    "take_daily_snapshots",
    "take_snapshot",
]

log = logging.getLogger(__name__)

INCIDENT_WINDOW = timedelta(days=30)


def _readiness(model: Model) -> ReadinessSpec:
    try:
        return ReadinessSpec.model_validate(model.readiness or {})
    except ValidationError:
        # Written by another version of the catalog: score what is declared as not declared.
        log.warning("model %s: stored readiness facts do not validate; read as none", model.id)
        return ReadinessSpec()


def _routes(session: Session) -> list[Route]:
    return list(session.exec(select(Route).order_by(col(Route.position))).all())


def _routed_to(model: Model, routes: Sequence[Route]) -> str | None:
    """The rotation an alert naming only this model pages (as the webhook routes it)."""
    if model.rotation_id is not None and model.escalation_policy_id is not None:
        return model.rotation_id
    labels = {"model": model.id}
    for route in routes:
        if all(labels.get(k) == v for k, v in (route.match or {}).items()):
            return model.rotation_id or route.rotation_id
    return None


def _action_items_due(
    session: Session, model_ids: Sequence[str], now: datetime
) -> dict[str, list[ActionItemDue]]:
    from oncall.rca.models import RcaActionItem

    rows = session.exec(
        select(RcaActionItem)
        .where(col(RcaActionItem.model_id).in_(model_ids))
        .where(col(RcaActionItem.due_at).is_not(None))
        .where(col(RcaActionItem.due_at) <= now)
        .where(col(RcaActionItem.due_at) > now - RCA_WINDOW)
        .order_by(col(RcaActionItem.incident_id), col(RcaActionItem.number))
    ).all()
    out: dict[str, list[ActionItemDue]] = {}
    for item in rows:
        assert item.model_id is not None and item.due_at is not None
        out.setdefault(item.model_id, []).append(
            ActionItemDue(item.incident_id, item.number, item.due_at, item.done_at)
        )
    return out


def _incident_counts(session: Session, model_ids: Sequence[str], now: datetime) -> dict[str, int]:
    from oncall.incidents.models import Incident

    rows = session.exec(
        select(Incident.model_id, func.count())
        .where(col(Incident.model_id).in_(model_ids))
        .where(col(Incident.triggered_at) > now - INCIDENT_WINDOW)
        .where(col(Incident.triggered_at) <= now)
        .group_by(col(Incident.model_id))
    ).all()
    return {model_id: count for model_id, count in rows if model_id is not None}


def _latest_runs(
    session: Session, model_ids: Sequence[str], now: datetime
) -> dict[str, dict[str, PushedRun]]:
    newest = (
        select(
            RecordedRun.model_id,
            RecordedRun.check_id,
            func.max(RecordedRun.ran_at).label("ran_at"),
        )
        .where(col(RecordedRun.model_id).in_(model_ids))
        .where(col(RecordedRun.ran_at) <= now)
        .group_by(col(RecordedRun.model_id), col(RecordedRun.check_id))
        .subquery()
    )
    rows = session.exec(
        select(RecordedRun)
        .join(
            newest,
            (col(RecordedRun.model_id) == newest.c.model_id)
            & (col(RecordedRun.check_id) == newest.c.check_id)
            & (col(RecordedRun.ran_at) == newest.c.ran_at),
        )
        .order_by(col(RecordedRun.id))
    ).all()
    out: dict[str, dict[str, PushedRun]] = {}
    for row in rows:  # two runs at the same instant: the one recorded last
        out.setdefault(row.model_id, {})[row.check_id] = PushedRun(
            result=row.result,
            ran_at=row.ran_at,
            commit=row.commit,
            by=row.recorded_by,
            detail=row.detail,
        )
    return out


def _score_models(
    session: Session, models: Sequence[Model], *, now: datetime, readings: LiveReadings | None
) -> list[ModelPRS]:
    ids = [m.id for m in models]
    # Chunks keep `IN (...)` within every database's parameter limit.
    due: dict[str, list[ActionItemDue]] = {}
    incidents: dict[str, int] = {}
    runs: dict[str, dict[str, PushedRun]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        due.update(_action_items_due(session, chunk, now))
        incidents.update(_incident_counts(session, chunk, now))
        runs.update(_latest_runs(session, chunk, now))
    routes = _routes(session)
    live = readings is not None and readings.reachable
    out = []
    for model in models:
        facts = ModelFacts(
            model_id=model.id,
            team_id=model.team_id,
            readiness=_readiness(model),
            routed_to=_routed_to(model, routes),
            action_items_due=tuple(due.get(model.id, ())),
            runs=runs.get(model.id, {}),
        )
        out.append(
            score(
                model_id=model.id,
                team_id=model.team_id,
                at=now,
                checks=run_checks(facts, live=readings, now=now),
                sections=SECTIONS,
                live=live,
                incidents_30d=incidents.get(model.id, 0),
            )
        )
    return out


def require_model(session: Session, model_id: str) -> Model:
    """The catalog model, or UnknownEntity (also for a retired one)."""
    model = session.get(Model, model_id)
    if model is None:
        raise UnknownEntity("model", model_id)
    if model.retired_at is not None:
        raise UnknownEntity(
            "model", model_id, message=f"model {model_id!r} is retired from the catalog"
        )
    return model


def _readings(live: LiveEvidence | None, now: datetime) -> LiveReadings | None:
    return live.readings(now=now) if live is not None else None


def model_prs(
    session: Session, model_id: str, *, now: datetime, live: LiveEvidence | None = None
) -> ModelPRS:
    """The PRS of one model now. Without `live`, live checks are unknown (score partial)."""
    model = require_model(session, model_id)
    return _score_models(session, [model], now=now, readings=_readings(live, now))[0]


def models_prs(
    session: Session,
    *,
    now: datetime,
    live: LiveEvidence | None = None,
    model_ids: Sequence[str] | None = None,
    team_id: str | None = None,
) -> list[ModelPRS]:
    """The PRS of every model in the catalog (or of `model_ids`, or of one team), by id."""
    query = select(Model).where(col(Model.retired_at).is_(None)).order_by(col(Model.id))
    if team_id is not None:
        query = query.where(Model.team_id == team_id)
    models = list(session.exec(query).all())
    if model_ids is not None:
        wanted = set(model_ids)
        for model_id in model_ids:
            require_model(session, model_id)  # an unknown id is an error, not an empty list
        models = [m for m in models if m.id in wanted]
    return _score_models(session, models, now=now, readings=_readings(live, now))


def _store(session: Session, prs: ModelPRS) -> ReadinessSnapshot:
    row = ReadinessSnapshot(
        model_id=prs.model_id,
        team_id=prs.team_id,
        taken_at=prs.at,
        percent=prs.percent,
        minimum_percent=prs.minimum_percent,
        partial=prs.partial,
        live=prs.live,
        body=prs.to_dict(),
    )
    session.add(row)
    session.flush()
    return row


def take_snapshot(
    session: Session, model_id: str, *, now: datetime, live: LiveEvidence | None = None
) -> ModelPRS:
    """Score one model now and store it (the caller commits)."""
    prs = model_prs(session, model_id, now=now, live=live)
    _store(session, prs)
    return prs


def take_snapshots(
    session: Session,
    *,
    now: datetime,
    live: LiveEvidence | None = None,
    model_ids: Sequence[str] | None = None,
) -> list[ModelPRS]:
    """Score and store many models at once (one read of Prometheus); the caller commits."""
    scored = models_prs(session, now=now, live=live, model_ids=model_ids)
    for prs in scored:
        _store(session, prs)
    return scored


def take_daily_snapshots(
    session: Session, *, now: datetime, live: LiveEvidence | None = None
) -> int:
    """A snapshot of each model that has none yet on this UTC day; returns how many."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    done = set(
        session.exec(
            select(ReadinessSnapshot.model_id)
            .where(col(ReadinessSnapshot.taken_at) >= day)
            .where(col(ReadinessSnapshot.taken_at) <= now)
            .distinct()
        ).all()
    )
    pending = session.exec(
        select(Model.id).where(col(Model.retired_at).is_(None)).order_by(col(Model.id))
    ).all()
    todo = [model_id for model_id in pending if model_id not in done]
    if not todo:
        return 0
    return len(take_snapshots(session, now=now, live=live, model_ids=todo))


def prs_at(session: Session, model_id: str, *, at: datetime) -> ModelPRS | None:
    """The latest stored snapshot of the model at or before `at`; None if there is none."""
    row = session.exec(
        select(ReadinessSnapshot)
        .where(ReadinessSnapshot.model_id == model_id)
        .where(col(ReadinessSnapshot.taken_at) <= at)
        .order_by(col(ReadinessSnapshot.taken_at).desc(), col(ReadinessSnapshot.id).desc())
        .limit(1)
    ).first()
    return ModelPRS.from_dict(row.body) if row is not None else None


@dataclass(frozen=True)
class LatestScore:
    model_id: str
    team_id: str | None
    percent: float | None
    taken_at: datetime


def latest_scores(session: Session) -> list[LatestScore]:
    """The newest snapshot's score of each model still in the catalog (for /metrics): plain
    columns, not the stored breakdowns, so a scrape stays cheap."""
    newest = (
        select(ReadinessSnapshot.model_id, func.max(ReadinessSnapshot.taken_at).label("taken_at"))
        .group_by(col(ReadinessSnapshot.model_id))
        .subquery()
    )
    rows = session.exec(
        select(
            ReadinessSnapshot.model_id,
            ReadinessSnapshot.team_id,
            ReadinessSnapshot.percent,
            ReadinessSnapshot.taken_at,
        )
        .join(
            newest,
            (col(ReadinessSnapshot.model_id) == newest.c.model_id)
            & (col(ReadinessSnapshot.taken_at) == newest.c.taken_at),
        )
        .join(Model, col(Model.id) == col(ReadinessSnapshot.model_id))
        .where(col(Model.retired_at).is_(None))
        .order_by(col(ReadinessSnapshot.model_id), col(ReadinessSnapshot.id).desc())
    ).all()
    seen: set[str] = set()
    out = []
    for model_id, team_id, percent, taken_at in rows:  # same instant twice: the later row
        if model_id not in seen:
            seen.add(model_id)
            out.append(LatestScore(model_id, team_id, percent, taken_at))
    return out


RUN_RESULTS = ("passed", "failed")
MAX_DETAIL = 500


def record_run(
    session: Session,
    *,
    model_id: str,
    check_id: str,
    result: str,
    now: datetime,
    by: str,
    ran_at: datetime | None = None,
    commit: str | None = None,
    detail: str | None = None,
) -> RecordedRun:
    """Record a run of a model's tests or data checks (from CI); the caller commits.

    `by` is already a checked actor. Refuses unknown models, checks that take no pushed runs,
    results other than passed/failed and runs in the future."""
    require_model(session, model_id)
    if check_id not in PUSHABLE_CHECKS:
        raise InvalidRequest(
            f"check {check_id!r} takes no pushed runs: use one of {', '.join(PUSHABLE_CHECKS)}",
            field="check",
        )
    if result not in RUN_RESULTS:
        raise InvalidRequest(f"result {result!r}: use passed or failed", field="result")
    ran_at = ran_at or now
    if ran_at.tzinfo is None:
        raise InvalidRequest("at: give a time zone offset (e.g. 2026-03-03T10:00Z)", field="at")
    if ran_at > now + timedelta(minutes=5):
        raise InvalidRequest(f"at: {ran_at.isoformat()} is in the future", field="at")
    ran_at = min(ran_at, now)  # a CI clock a little ahead of ours: the run happened now
    if commit is not None and (not commit or len(commit) > 64 or not commit.isalnum()):
        raise InvalidRequest("commit: letters and digits, at most 64 (a git SHA)", field="commit")
    if detail is not None and len(detail) > MAX_DETAIL:
        raise InvalidRequest(f"detail: at most {MAX_DETAIL} characters", field="detail")
    row = RecordedRun(
        model_id=model_id,
        check_id=check_id,
        result=result,
        ran_at=ran_at,
        commit=commit,
        detail=detail,
        recorded_by=by,
        recorded_at=now,
    )
    session.add(row)
    session.flush()
    return row
