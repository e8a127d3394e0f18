"""Helpers for RCA tests: incidents from the real Alertmanager payloads, and readiness scores.

`score(...)` builds a value of the readiness domain's `ModelPRS` shape (model_id, at, percent,
minimum_percent, partial, live, sections, checks with evidence, gaps()), which is all the
RCA reads of a score."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from helpers import payload
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from oncall.db import session_scope
from oncall.incidents import service as incidents
from oncall.incidents.alertmanager import AlertmanagerPayload
from oncall.incidents.ingest import ingest_alertmanager
from oncall.incidents.models import Incident
from oncall.outbox import OutboxMessage
from oncall.rca.prs import PrsAtTime
from oncall.rca.service import Generated, generate

PUBLIC = "https://oncall.example.com"
T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # the shared `clock` fixture's start


def ingest(
    engine: Engine, name: str, now: datetime, *, severity: str | None = None, **changes: Any
) -> int:
    body = payload(name)
    body.update(changes)
    if severity is not None:
        for alert in body["alerts"]:
            alert["labels"]["severity"] = severity
    with session_scope(engine) as s:
        result = ingest_alertmanager(
            session=s, payload=AlertmanagerPayload.model_validate(body), now=now
        )
        assert result.incident_id is not None
        return int(result.incident_id)


def ack(engine: Engine, incident_id: int, by: str, now: datetime) -> None:
    with session_scope(engine) as s:
        incidents.acknowledge(session=s, incident_id=incident_id, by=by, now=now)


def resolve(engine: Engine, incident_id: int, by: str, now: datetime) -> None:
    with session_scope(engine) as s:
        incidents.resolve(session=s, incident_id=incident_id, by=by, now=now)


def rca(
    engine: Engine,
    incident_id: int,
    now: datetime,
    prs: Callable[[Session, str, datetime], PrsAtTime | None] | None = None,
) -> Generated:
    with session_scope(engine) as s:
        return generate(
            session=s,
            incident_id=incident_id,
            now=now,
            prs_provider=prs or (lambda *_: None),
            public_url=PUBLIC,
        )


def outbox_rows(engine: Engine, incident_id: int) -> list[OutboxMessage]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(OutboxMessage)
                .where(OutboxMessage.incident_id == incident_id)
                .order_by(col(OutboxMessage.id))
            )
        )


def incident(engine: Engine, incident_id: int) -> Incident:
    with Session(engine) as s:
        row = s.get(Incident, incident_id)
        assert row is not None
        return row


# --- a readiness score of the readiness domain's shape -----------------------------------


@dataclass(frozen=True)
class Evidence:
    source: str
    at: datetime | None
    detail: str


@dataclass(frozen=True)
class Check:
    id: str
    section: str
    title: str
    status: str
    points: float
    maximum: float
    evidence: Evidence
    improve: str


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    points: float
    maximum: float
    percent: float | None
    partial: bool


@dataclass(frozen=True)
class Score:
    model_id: str
    at: datetime
    percent: float | None
    minimum_percent: float | None
    partial: bool
    live: bool
    sections: tuple[Section, ...]
    checks: tuple[Check, ...]
    gap_ids: tuple[str, ...] = field(default=())

    def gaps(self) -> list[Check]:
        return [c for i in self.gap_ids for c in self.checks if c.id == i]


POINTS = {"automated": 1.0, "manual": 0.5, "missing": 0.0, "failing": 0.0}


def score(model_id: str, at: datetime, statuses: dict[str, str]) -> Score:
    """A score from check statuses (`"testing.integration": "manual"`, ...): points, sections
    and gaps (missing/failing first, then manual) as the readiness domain computes them."""
    checks = []
    for check_id, status in statuses.items():
        section, _, name = check_id.partition(".")
        known = status in POINTS
        checks.append(
            Check(
                id=check_id,
                section=section,
                title=f"{section.capitalize()}: {name.replace('_', ' ')}",
                status=status,
                points=POINTS.get(status, 0.0),
                maximum=1.0 if known else 0.0,
                evidence=Evidence("catalog", at - timedelta(days=3), f"declared {status}"),
                improve=f"make {name.replace('_', ' ')} automated" if status != "automated" else "",
            )
        )
    sections = []
    for section in dict.fromkeys(c.section for c in checks):
        mine = [c for c in checks if c.section == section]
        pts, mx = sum(c.points for c in mine), sum(c.maximum for c in mine)
        sections.append(
            Section(
                section,
                section.capitalize(),
                pts,
                mx,
                round(100 * pts / mx, 1) if mx else None,
                any(c.status not in POINTS for c in mine),
            )
        )
    pts, mx = sum(c.points for c in checks), sum(c.maximum for c in checks)
    order = {"missing": 0, "failing": 0, "manual": 1}
    gaps = sorted((c for c in checks if c.status in order), key=lambda c: order[c.status])
    known_sections = [s.percent for s in sections if s.percent is not None]
    return Score(
        model_id=model_id,
        at=at,
        percent=round(100 * pts / mx, 1) if mx else None,
        minimum_percent=min(known_sections) if known_sections else None,
        partial=any(c.status not in POINTS for c in checks),
        live=False,
        sections=tuple(sections),
        checks=tuple(checks),
        gap_ids=tuple(c.id for c in gaps),
    )


def provider(value: Score | None) -> Callable[[Session, str, datetime], PrsAtTime | None]:
    """A PRS provider returning `value` as the snapshot at the time (None: no score)."""
    return lambda _session, _model, _at: (
        PrsAtTime.of(value, source="snapshot") if value is not None else None
    )
