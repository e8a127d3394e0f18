"""Production Readiness Score over HTTP: a model's score now, as it was, and on-demand snapshots."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from oncall.actors import check_actor
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
        at = at.replace(tzinfo=UTC)
    service.require_model(session, model_id)  # an unknown model is 404 with its reason
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


class RunBody(BaseModel):
    """A run of a model's tests or data checks, e.g. from CI after the test job."""

    model_config = ConfigDict(extra="forbid")

    check: str = Field(description="testing.unit, testing.integration or data.validation")
    result: str = Field(description="passed or failed")
    at: datetime | None = Field(None, description="When it ran (default: now).")
    commit: str | None = Field(None, max_length=64)
    detail: str | None = Field(None, max_length=500)
    by: str | None = Field(None, max_length=64, description="Person id recorded as the actor.")


@router.post("/{model_id}/evidence", status_code=201, dependencies=[TokenDep])
def push_evidence(
    model_id: str, body: RunBody, request: Request, session: SessionDep, now: NowDep
) -> dict[str, Any]:
    """Record a run; answers with the check as it now scores."""
    by = check_actor(session=session, by=body.by or "api")
    service.record_run(
        session,
        model_id=model_id,
        check_id=body.check,
        result=body.result,
        now=now,
        by=by,
        ran_at=body.at,
        commit=body.commit,
        detail=body.detail,
    )
    session.commit()
    prs = service.model_prs(session, model_id, now=now)
    check = next(c for c in prs.checks if c.id == body.check)
    return {"check": check.to_dict(), "percent": prs.percent, "partial": prs.partial}
