"""GET /incidents/{id}: the incident page that Slack, PagerDuty and the dashboard link to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlmodel import Session, col, select

from oncall import links
from oncall.api.deps import NowDep, SessionDep, SettingsDep
from oncall.catalog.models import Model, Person, Team
from oncall.config import Settings
from oncall.escalation import service as escalation
from oncall.incidents import service
from oncall.incidents.models import Alert, Incident
from oncall.rca.models import RcaDocument
from oncall.templating import render

router = APIRouter(tags=["pages"])


def _runbooks(alerts: list[Alert], incident: Incident, settings: Settings) -> list[str]:
    """Distinct runbook links of the incident's alerts; only http/https ones are kept."""
    found: list[str] = []
    for raw in [incident.labels.get("runbook_url")] + [
        a.annotations.get("runbook_url") for a in alerts
    ]:
        url = links.safe_url(raw, base=links.public_base(settings))
        if url and url not in found:
            found.append(url)
    return found


def _names(session: Session, ids: set[str | None]) -> dict[str, str]:
    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    return {p.id: p.name for p in session.exec(select(Person).where(col(Person.id).in_(wanted)))}


def _page(session: Session, incident: Incident, settings: Settings) -> dict[str, Any]:
    assert incident.id is not None
    alerts = service.alerts_of(session=session, incident_id=incident.id)
    timeline = service.timeline_of(session=session, incident_id=incident.id)
    names = _names(
        session,
        {incident.assignee_id, incident.acknowledged_by, incident.resolved_by}
        | {e.actor for e in timeline},
    )
    return {
        "incident": incident,
        "alerts": [{"alert": a, "generator_url": links.safe_url(a.generator_url)} for a in alerts],
        "timeline": timeline,
        "names": names,
        "team": session.get(Team, incident.team_id) if incident.team_id else None,
        "model": session.get(Model, incident.model_id) if incident.model_id else None,
        "escalation": escalation.state_of(session=session, incident_id=incident.id),
        "runbooks": _runbooks(alerts, incident, settings),
        "slack_url": links.slack_channel_url(incident.slack_channel_id)
        if incident.slack_ts
        else None,
        "rca_url": links.rca_url(settings, incident.id)
        if session.get(RcaDocument, incident.id) is not None
        else None,
    }


@router.get("/incidents/{incident_id}", response_class=HTMLResponse, include_in_schema=False)
def incident_page(
    incident_id: str, session: SessionDep, settings: SettingsDep, now: NowDep
) -> HTMLResponse:
    valid = incident_id.isdigit() and len(incident_id) <= 18  # an id the database can hold
    found = session.get(Incident, int(incident_id)) if valid else None
    if found is None:
        return HTMLResponse(render("not_found.html.j2", what=f"incident {incident_id}"), 404)
    return HTMLResponse(render("incident.html.j2", now=now, **_page(session, found, settings)))
