"""A made-up incident's RCA context, to try a team's template on before a real incident needs
it (`oncall config check`): every value a template may read is there, as real ones are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from oncall.incidents.models import Alert, EventKind, Incident, IncidentEvent
from oncall.rca.content import Related, build_content
from oncall.rca.content import document_context as _document_context
from oncall.rca.models import RcaActionItem, RcaDocument
from oncall.rca.prs import PrsAtTime, PrsCheck, PrsSection

_AT = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)


def _check(check_id: str, status: str, points: float) -> PrsCheck:
    section, _, name = check_id.partition(".")
    return PrsCheck(
        id=check_id,
        section=section,
        title=name.replace("_", " ").capitalize(),
        status=status,
        points=points,
        maximum=1.0,
        evidence_source="catalog",
        evidence_at=_AT.isoformat(),
        evidence_detail=f"declared {status}",
        improve=f"make {name} automated",
    )


@lru_cache
def sample_context() -> dict[str, Any]:
    incident = Incident(
        id=1,
        group_key='{}:{alertname="ModelDriftHigh", model="example"}',
        group_hash="0" * 64,
        title="Drift score 0.9 for model example",
        status="resolved",
        severity="warning",
        team_id="example-team",
        model_id="example",
        rotation_id="example-rotation",
        assignee_id="someone",
        labels={"alertname": "ModelDriftHigh", "model": "example"},
        triggered_at=_AT,
        acknowledged_at=_AT + timedelta(minutes=3),
        acknowledged_by="someone",
        resolved_at=_AT + timedelta(minutes=40),
        resolved_by="alertmanager",
        slack_channel="C0EXAMPLE",
        updated_at=_AT + timedelta(minutes=40),
    )
    alert = Alert(
        id=1,
        incident_id=1,
        fingerprint="0" * 16,
        starts_at=_AT,
        ends_at=_AT + timedelta(minutes=40),
        status="resolved",
        alertname="ModelDriftHigh",
        labels={"alertname": "ModelDriftHigh", "model": "example", "severity": "warning"},
        annotations={
            "summary": "Drift score 0.9 for model example",
            "description": "model_drift_score is above 0.5",
            "runbook_url": "runbooks/model-drift.md",
        },
        generator_url="http://prometheus.example/graph",
        first_seen_at=_AT,
        last_seen_at=_AT + timedelta(minutes=40),
    )
    events = [
        IncidentEvent(id=n, incident_id=1, at=_AT + timedelta(minutes=m), kind=k, text=t)
        for n, (m, k, t) in enumerate(
            [
                (0, EventKind.triggered, "triggered by ModelDriftHigh"),
                (0, EventKind.escalated, "step 1: mentioned someone in the incident message"),
                (3, EventKind.acknowledged, "acknowledged by someone"),
                (40, EventKind.resolved, "all alerts of the group resolved"),
            ],
            1,
        )
    ]
    gap = _check("operations.rollback_plan", "missing", 0.0)
    checks = (_check("testing.unit", "automated", 1.0), gap)
    prs = PrsAtTime(
        model_id="example",
        at=(_AT - timedelta(hours=3)).isoformat(),
        percent=50.0,
        minimum_percent=0.0,
        partial=False,
        live=False,
        source="snapshot",
        sections=(
            PrsSection("testing", "Testing", 1.0, 1.0, 100.0, False),
            PrsSection("operations", "Operations", 0.0, 1.0, 0.0, False),
        ),
        checks=checks,
        gaps=(gap,),
    )
    related = Related(
        id=0,
        title="Drift score 0.8 for model example",
        severity="warning",
        status="resolved",
        triggered_at=(_AT - timedelta(days=20)).isoformat(),
        root_cause="An upstream schema change",
        rca_status="done",
        rca_url="http://oncall.example/rca/0",
        incident_url="http://oncall.example/incidents/0",
    )
    content = build_content(
        incident=incident,
        alerts=[alert],
        events=events,
        prs=prs,
        related=[related],
        model_name="Example model",
        serves="example scores",
        team_name="Example team",
        model_runbook="runbooks/model-drift.md",
        public_url="http://oncall.example",
        now=_AT + timedelta(hours=1),
    )
    document = RcaDocument(
        incident_id=1,
        content=content.to_dict(),
        root_cause="A sample root cause",
        sections={"went_well": "A sample of what went well"},
        generated_at=_AT,
        updated_at=_AT,
    )
    item = RcaActionItem(
        incident_id=1,
        number=1,
        title=f"{gap.title}: {gap.improve}",
        check_id=gap.id,
        model_id="example",
        owner_id="someone",
        due_at=_AT + timedelta(days=30),
        created_at=_AT,
    )
    return _document_context(document, [item], now=_AT + timedelta(hours=1))
