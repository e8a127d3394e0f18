"""Helpers for PRS tests: fixed live readings, and incidents with RCA action items."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from oncall.incidents.models import Incident
from oncall.rca.models import RcaActionItem, RcaDocument
from oncall.readiness.live import BatchRuns, LiveReadings

T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # conftest's: the catalog is applied then
PROM = "http://prometheus.test:9090"


@dataclass
class FixedEvidence:
    """A LiveEvidence whose readings the test sets; counts how often it is asked."""

    value: LiveReadings
    asked: list[datetime] = field(default_factory=list)

    def readings(self, *, now: datetime) -> LiveReadings:
        self.asked.append(now)
        return self.value


def talk_readings(at: datetime = T0) -> LiveReadings:
    """What Prometheus says about the example models: churn healthy, ltv's batch job failing."""
    return LiveReadings(
        source=PROM,
        at=at,
        predictions=frozenset({"churn"}),
        drift=frozenset({"churn"}),
        drift_last_run={"churn": (at - timedelta(hours=2)).timestamp()},
        batch_runs_30d={"churn": BatchRuns(30, 0), "ltv": BatchRuns(6, 24)},
        rules_loaded=frozenset(
            {"ModelDriftHigh", "ModelDriftJobStale", "BatchJobFailed", "BatchJobNoRecentSuccess"}
        ),
    )


def add_incident(session: Session, model_id: str, at: datetime) -> int:
    key = f"{{}}:{{model={model_id!r}, at={at.isoformat()}}}"
    incident = Incident(
        group_key=key,
        group_hash=hashlib.sha256(key.encode()).hexdigest(),
        title=f"Drift on {model_id}",
        model_id=model_id,
        team_id="growth-ds",
        triggered_at=at,
        updated_at=at,
        status="resolved",
        resolved_at=at + timedelta(hours=1),
    )
    session.add(incident)
    session.flush()
    assert incident.id is not None
    return incident.id


def add_action_items(
    session: Session,
    model_id: str,
    incident_at: datetime,
    items: list[tuple[datetime, datetime | None]],
) -> int:
    """An incident of the model with an RCA whose action items are (due_at, done_at)."""
    incident_id = add_incident(session, model_id, incident_at)
    session.add(
        RcaDocument(
            incident_id=incident_id,
            model_id=model_id,
            team_id="growth-ds",
            generated_at=incident_at,
            updated_at=incident_at,
        )
    )
    session.flush()
    for number, (due, done) in enumerate(items, 1):
        session.add(
            RcaActionItem(
                incident_id=incident_id,
                number=number,
                title=f"item {number}",
                model_id=model_id,
                due_at=due,
                status="done" if done else "open",
                done_at=done,
                created_at=incident_at,
            )
        )
    session.flush()
    return incident_id
