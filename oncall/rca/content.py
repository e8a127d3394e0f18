"""What an RCA says, as plain values: gathered once from the incident, rendered as Markdown and
as HTML from the same structure.

Alert text is only ever data here; links from alert data keep only http/https (relative ones,
such as `runbooks/model-drift.md`, resolve against the service's public URL).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from oncall import links
from oncall.incidents.models import Alert, EventKind, Incident, IncidentEvent
from oncall.rca.models import HUMAN_SECTIONS, ActionStatus, RcaActionItem, RcaDocument
from oncall.rca.prs import PrsAtTime

# How long an action item has, from when it is proposed, by the incident's severity.
DUE_DAYS: dict[str, int] = {"critical": 7, "error": 14, "warning": 30, "info": 60}
DEFAULT_DUE_DAYS = 30

NO_PRS = "no readiness score recorded for this model yet"
ALERT_ROWS = 100  # a storm's RCA lists this many alerts, and says how many there were


# --- the content of one RCA -------------------------------------------------------------------


@dataclass(frozen=True)
class Related:
    """A past incident of the same model or alert, with its RCA's root cause."""

    id: int
    title: str
    severity: str
    status: str
    triggered_at: str
    root_cause: str | None
    rca_status: str | None
    rca_url: str | None
    incident_url: str


@dataclass
class Content:
    incident: dict[str, Any]
    summary: str
    impact: dict[str, Any]
    detection: dict[str, Any]
    timeline: list[dict[str, Any]]
    trigger: dict[str, Any]
    resolution: dict[str, Any]
    alerts: list[dict[str, Any]]
    descriptions: list[dict[str, str]]
    runbooks: list[dict[str, str]]
    related: list[dict[str, Any]]
    prs: dict[str, Any] | None
    generated_at: str
    public_url: str
    no_prs: str = NO_PRS
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def seconds_between(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds()))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def build_content(
    *,
    incident: Incident,
    alerts: Sequence[Alert],
    events: Sequence[IncidentEvent],
    prs: PrsAtTime | None,
    related: Iterable[Related],
    model_name: str | None,
    serves: str | None,
    team_name: str | None,
    model_runbook: str | None,
    public_url: str,
    now: datetime,
) -> Content:
    """Everything generated about the incident; what people write is added when rendering."""
    base = links.public_base(public_url)
    incident_url = links.incident_url(base, incident.id)
    alertnames = sorted({a.alertname for a in alerts if a.alertname})
    firing = sum(1 for a in alerts if a.status == "firing")
    duration = seconds_between(incident.triggered_at, incident.resolved_at)
    tta = seconds_between(incident.triggered_at, incident.acknowledged_at)
    first = min(alerts, key=lambda a: a.starts_at) if alerts else None
    escalated = [e for e in events if e.kind == EventKind.escalated]
    paged = any("pagerduty" in (e.data.get("notify") or []) for e in escalated)
    resolved_event = next((e for e in reversed(events) if e.kind == EventKind.resolved), None)
    reopened = sum(1 for e in events if e.kind == EventKind.reopened)

    alert_rows: list[dict[str, Any]] = []
    runbooks: dict[str, str] = {}
    removed = 0
    for alert in alerts:
        raw_runbook = alert.annotations.get("runbook_url")
        runbook = links.safe_url(raw_runbook, base=base)
        if raw_runbook and runbook is None:
            removed += 1
        if runbook:
            runbooks.setdefault(runbook, alert.alertname or runbook)
        if len(alert_rows) == ALERT_ROWS:
            continue
        alert_rows.append(
            {
                "alertname": alert.alertname,
                "status": alert.status,
                "starts_at": _iso(alert.starts_at),
                "ends_at": _iso(alert.ends_at),
                "labels": dict(sorted(alert.labels.items())),
                "summary": alert.annotations.get("summary", ""),
                "description": alert.annotations.get("description", ""),
                "runbook_url": runbook,
                "runbook_removed": bool(raw_runbook) and runbook is None,
                "generator_url": links.safe_url(alert.generator_url),
            }
        )
    model_runbook_url = links.safe_url(model_runbook, base=base)
    if model_runbook_url:
        runbooks.setdefault(model_runbook_url, f"{incident.model_id} runbook")

    what = model_name or incident.model_id
    summary = (
        f"{incident.severity.capitalize()} incident #{incident.id}: {incident.title}. "
        + (
            f"It concerned the model {what}"
            + (f" of {team_name or incident.team_id}" if incident.team_id else "")
            if what
            else "It named no model"
            + (f"; the team was {team_name or incident.team_id}" if incident.team_id else "")
        )
        + (
            f", lasted {duration_words(duration)}"
            if duration is not None
            else ", is not resolved yet"
        )
        + f" and carried {len(alerts)} alert(s)."
    )
    notes = []
    if len(alerts) > ALERT_ROWS:
        notes.append(
            f"The first {ALERT_ROWS} of {len(alerts)} alerts are listed; "
            "the incident page has them all."
        )
    if removed:
        notes.append(
            f"{removed} runbook link(s) from alert data were left out (not http or https)."
        )
    return Content(
        incident={
            "id": incident.id,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status,
            "model_id": incident.model_id,
            "model_name": model_name,
            "team_id": incident.team_id,
            "team_name": team_name,
            "rotation_id": incident.rotation_id,
            "triggered_at": _iso(incident.triggered_at),
            "acknowledged_at": _iso(incident.acknowledged_at),
            "resolved_at": _iso(incident.resolved_at),
            "url": incident_url,
            "rca_url": links.rca_url(base, incident.id),
        },
        summary=summary,
        impact={
            "duration_seconds": duration,
            "alerts": len(alerts),
            "firing": firing,
            "alertnames": alertnames,
            "model": what,
            "serves": serves,
            "team": team_name or incident.team_id,
            "reopened": reopened,
            "truncated_alerts": incident.truncated_alerts,
        },
        detection={
            "time_to_acknowledge_seconds": tta,
            "acknowledged_by": incident.acknowledged_by,
            "assignee": incident.assignee_id,
            "rotation": incident.rotation_id,
            "channel": incident.slack_channel,
            "pagerduty": paged,
            "steps": [{"at": _iso(e.at), "text": e.text} for e in escalated],
        },
        timeline=[
            {"at": _iso(e.at), "kind": e.kind, "actor": e.actor, "text": e.text} for e in events
        ],
        trigger={
            "first_alert_at": _iso(first.starts_at) if first else None,
            "alertnames": alertnames,
            "summary": first.annotations.get("summary", "") if first else "",
            "labels": dict(sorted(incident.labels.items())),
        },
        resolution={
            "resolved_at": _iso(incident.resolved_at),
            "resolved_by": incident.resolved_by,
            "text": resolved_event.text if resolved_event else "",
        },
        alerts=alert_rows,
        descriptions=_descriptions(alerts),
        runbooks=[{"url": url, "text": text} for url, text in runbooks.items()],
        related=[asdict(r) for r in related],
        prs=prs.to_dict() if prs else None,
        generated_at=now.isoformat(),
        public_url=base,
        notes=notes,
    )


DESCRIPTIONS = 5
DESCRIPTION_CHARS = 2000


def _descriptions(alerts: Sequence[Alert]) -> list[dict[str, str]]:
    """The alerts' distinct descriptions (a storm repeats one), the first few, shortened."""
    seen: dict[tuple[str, str], None] = {}
    for alert in alerts:
        text = alert.annotations.get("description", "").strip()
        if text:
            seen.setdefault((alert.alertname, text), None)
    out = []
    for name, text in list(seen)[:DESCRIPTIONS]:
        if len(text) > DESCRIPTION_CHARS:
            text = text[:DESCRIPTION_CHARS] + " …"
        out.append({"alertname": name, "text": text})
    return out


def duration_words(seconds: int | None) -> str:
    """A duration the way a person says it: `2 h 5 min`, `40 s`."""
    if seconds is None:
        return "-"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if minutes and not days:
        parts.append(f"{minutes} min")
    if not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)


# --- what a template sees --------------------------------------------------------------------


def is_overdue(item: RcaActionItem, now: datetime) -> bool:
    return item.status == ActionStatus.open and item.due_at is not None and item.due_at < now


def document_context(
    document: RcaDocument, items: Sequence[RcaActionItem], *, now: datetime
) -> dict[str, Any]:
    """The generated content, what people wrote and the action items, as template values."""
    return {
        **document.content,
        "status": document.status,
        "root_cause": document.root_cause,
        "sections": {key: document.sections.get(key) for key in HUMAN_SECTIONS},
        "section_titles": dict(HUMAN_SECTIONS),
        "action_items": [
            {
                "number": item.number,
                "title": item.title,
                "check_id": item.check_id,
                "owner_id": item.owner_id,
                "due_at": item.due_at.isoformat() if item.due_at else None,
                "status": item.status,
                "done_at": item.done_at.isoformat() if item.done_at else None,
                "overdue": is_overdue(item, now),
            }
            for item in items
        ],
    }
