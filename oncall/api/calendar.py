"""HTTP routes: iCalendar feeds behind secret, revocable tokens (`oncall calendar token`)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from oncall.api.deps import NowDep, SessionDep
from oncall.rotations.feeds import calendar_feed

router = APIRouter(tags=["calendar"])


@router.get(
    "/calendar/{token}.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, 404: {"description": "No such feed."}},
)
def feed(token: str, session: SessionDep, now: NowDep) -> Response:
    """A rotation's or a person's shifts, 30 days back to 180 days ahead, as iCalendar."""
    # Unknown and revoked tokens are the same UnknownFeed, one 404: a guesser learns nothing.
    body = calendar_feed(session=session, token=token, now=now)
    return Response(
        content=body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": 'inline; filename="oncall.ics"',
            # The URL is the secret: keep it out of shared caches.
            "Cache-Control": "private, max-age=300",
        },
    )
