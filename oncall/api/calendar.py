"""HTTP routes: iCalendar feeds behind secret, revocable tokens (`oncall calendar token`)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from oncall.api.deps import NowDep, SessionDep
from oncall.rotations.feeds import UnknownFeed, calendar_feed

router = APIRouter(tags=["calendar"])


@router.get(
    "/calendar/{token}.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, 404: {"description": "No such feed."}},
)
def feed(token: str, session: SessionDep, now: NowDep) -> Response:
    """A rotation's or a person's shifts, 30 days back to 180 days ahead, as iCalendar."""
    try:
        body = calendar_feed(session=session, token=token, now=now)
    except UnknownFeed as exc:
        # Unknown and revoked look the same: a guesser learns nothing.
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    return Response(
        content=body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": 'inline; filename="oncall.ics"',
            # The URL is the secret: keep it out of shared caches.
            "Cache-Control": "private, max-age=300",
        },
    )
