"""Production Readiness Score over HTTP: a model's score now, as it was, and on-demand snapshots."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from oncall.api.deps import NowDep, SessionDep, TokenDep
from oncall.errors import UnknownEntity
from oncall.readiness import service
from oncall.readiness.live import LiveEvidence

router = APIRouter(prefix="/api/v1/models", tags=["readiness"])


def _live(request: Request) -> LiveEvidence | None:
    live: LiveEvidence | None = request.app.state.live
    return live


@router.get("/{model_id}/prs")
def model_prs(
    model_id: str,
    request: Request,
    session: SessionDep,
    now: NowDep,
    at: Annotated[
        datetime | None,
        Query(description="ISO 8601: the latest snapshot at or before this time instead of now."),
    ] = None,
) -> dict[str, Any]:
    """The model's PRS with every check, its evidence and the gaps first to close."""
    if at is None:
        return service.model_prs(session, model_id, now=now, live=_live(request)).to_dict()
    if at.tzinfo is None:
        from datetime import UTC

        at = at.replace(tzinfo=UTC)
    service.model_prs(session, model_id, now=now)  # an unknown model is 404 with its reason
    found = service.prs_at(session, model_id, at=at)
    if found is None:
        raise UnknownEntity(
            "snapshot", model_id, message=f"no PRS snapshot of model {model_id!r} at or before {at}"
        )
    return found.to_dict()


@router.post("/{model_id}/prs/snapshots", status_code=201, dependencies=[TokenDep])
def take_snapshot(
    model_id: str, request: Request, session: SessionDep, now: NowDep
) -> dict[str, Any]:
    """Score the model now and store it as a snapshot (the daily one is taken by itself)."""
    found = service.take_snapshot(session, model_id, now=now, live=_live(request))
    session.commit()
    return found.to_dict()
