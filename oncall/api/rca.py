"""RCA documents over HTTP: the page, the Markdown, and the changes people make (token)."""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Body
from fastapi.responses import HTMLResponse, Response

from oncall.api.deps import NowDep, SessionDep, TokenDep
from oncall.errors import UnknownEntity
from oncall.rca import service
from oncall.rca.models import RcaPatch, RcaPublic

router = APIRouter(tags=["rca"])


def _not_found_page(reason: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><meta charset='utf-8'><title>RCA not found</title>"
        f"<p>{escape(reason)}</p><p><a href='/'>back to the dashboard</a></p>",
        status_code=404,
    )


# Declared before `/rca/{incident_id}` so that `12.md` is not read as an incident id.
@router.get(
    "/rca/{incident_id}.md",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}}}},
)
def rca_markdown(incident_id: int, session: SessionDep) -> Response:
    """The RCA document as Markdown (what `oncall rca generate` writes)."""
    markdown = service.markdown_of(session=session, incident_id=incident_id)
    return Response(
        markdown,
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="rca-{incident_id}.md"'},
    )


@router.get("/rca/{incident_id}", response_class=HTMLResponse)
def rca_page(incident_id: int, session: SessionDep, now: NowDep) -> HTMLResponse:
    """The RCA document as a page."""
    try:
        page = service.html_of(session=session, incident_id=incident_id, now=now)
    except UnknownEntity as exc:
        return _not_found_page(str(exc))
    return HTMLResponse(page)


@router.get("/api/v1/incidents/{incident_id}/rca", response_model=RcaPublic)
def show_rca(incident_id: int, session: SessionDep, now: NowDep) -> RcaPublic:
    document = service.get(session=session, incident_id=incident_id)
    return service.public(session, document, now)


@router.patch(
    "/api/v1/incidents/{incident_id}/rca", response_model=RcaPublic, dependencies=[TokenDep]
)
def patch_rca(
    incident_id: int,
    patch: Annotated[RcaPatch, Body()],
    session: SessionDep,
    now: NowDep,
) -> RcaPublic:
    """Change the RCA's status (draft, in_review, done), what people wrote (root_cause,
    contributing_factors, went_well, went_wrong, lucky) and action items (by `number`:
    status, owner, due). Nothing changes unless everything given is valid."""
    document = service.update(session=session, incident_id=incident_id, patch=patch, now=now)
    session.commit()
    return service.public(session, document, now)
