"""GET /: a page with who is on call and the latest incidents."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from oncall.api.deps import NowDep, SessionDep
from oncall.catalog.models import Person
from oncall.incidents.service import list_incidents
from oncall.rotations.queries import who_is_on_call_everywhere
from oncall.templating import render

router = APIRouter(tags=["dashboard"])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard(session: SessionDep, now: NowDep) -> HTMLResponse:
    on_call = []
    for rotation, shift in who_is_on_call_everywhere(session=session, at=now):
        person = session.get(Person, shift.person_id) if shift else None
        on_call.append(
            {
                "rotation": rotation.id,
                "team": rotation.team_id,
                "person": person.name if person else (shift.person_id if shift else None),
                "until": shift.end if shift else None,
            }
        )
    incidents = list_incidents(session=session, limit=50)
    return HTMLResponse(render("dashboard.html.j2", now=now, on_call=on_call, incidents=incidents))
