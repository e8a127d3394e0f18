"""Story 3 (STORIES.md), end to end through the HTTP surface: Emily swaps the week of her
sister's wedding to Ryan; `who` and the calendar feeds follow; a later catalog edit keeps the
swap where it was agreed, and tells both when it no longer fits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from icalendar import Calendar
from rotation_helpers import EXAMPLE_CATALOG, T0, local
from sqlalchemy.engine import Engine
from sqlmodel import Session

from oncall.catalog.loader import parse_catalog_text
from oncall.catalog.service import apply_catalog
from oncall.rotations.feeds import create_calendar_token

NY = "America/New_York"
R = "growth-primary"
WEDDING_WEEK = local(NY, 2026, 3, 9, 10)  # Emily's next week on the weekly layer
WEDNESDAY_NOON = local(NY, 2026, 3, 11, 12)


def _feed_token(engine: Engine, **target: str) -> str:
    with Session(engine) as s:
        _, token = create_calendar_token(session=s, now=T0, **target)
        s.commit()
    return token


def _weekly_events(client: TestClient, token: str) -> list[tuple[datetime, str]]:
    response = client.get(f"/calendar/{token}.ics")
    assert response.status_code == 200
    return [
        (e.decoded("DTSTART").astimezone(UTC), str(e["SUMMARY"]))
        for e in Calendar.from_ical(response.content).walk("VEVENT")
        if "Layer: weekly" in str(e["DESCRIPTION"])
        and WEDDING_WEEK <= e.decoded("DTSTART") < WEDDING_WEEK + timedelta(days=7)
    ]


def _on_call(client: TestClient, at: datetime) -> str:
    body = client.get("/api/v1/oncall", params={"rotation": R, "at": at.isoformat()}).json()
    return str(body["oncall"][0]["shift"]["person_id"])


def test_emily_swaps_her_wedding_week_to_ryan(client: TestClient, catalog: Engine) -> None:
    rotation_feed = _feed_token(catalog, rotation_id=R)
    emily_feed = _feed_token(catalog, person_id="emily")
    ryan_feed = _feed_token(catalog, person_id="ryan")
    assert _on_call(client, WEDNESDAY_NOON) == "emily"
    emily_before = _weekly_events(client, emily_feed)
    assert emily_before and all("Emily Curtin" in summary for _, summary in emily_before)
    assert _weekly_events(client, ryan_feed) == []

    # Emily picks the shift and asks Ryan; Ryan presses "Take it".
    swaps_url = f"/api/v1/rotations/{R}/swaps"
    asked = client.post(
        swaps_url,
        params={"by": "emily"},
        json={
            "layer": "weekly",
            "shift_start": WEDDING_WEEK.isoformat(),
            "from_person_id": "emily",
            "to_person_id": "ryan",
            "note": "my sister's wedding",
        },
    )
    assert asked.status_code == 201, asked.text
    taken = client.post(f"{swaps_url}/{asked.json()['id']}/accept", params={"by": "ryan"})
    assert taken.status_code == 200

    # `who` and everyone's feed show Ryan for that week; Emily's personal feed drops it.
    assert _on_call(client, WEDNESDAY_NOON) == "ryan"
    assert _on_call(client, WEDDING_WEEK + timedelta(days=6, hours=23)) == "ryan"
    shared = _weekly_events(client, rotation_feed)
    assert shared and all("Ryan Curtin (swap)" in summary for _, summary in shared)
    assert _weekly_events(client, emily_feed) == []
    assert [start for start, _ in _weekly_events(client, ryan_feed)] == [
        start for start, _ in emily_before
    ]
    # Her other weeks stay in her feed.
    body = client.get(f"/calendar/{emily_feed}.ics").content
    later = [
        e.decoded("DTSTART")
        for e in Calendar.from_ical(body).walk("VEVENT")
        if e.decoded("DTSTART") >= WEDDING_WEEK + timedelta(days=7)
    ]
    assert later

    # Next month the team edits the rotation: the swap stays where it was agreed...
    text = EXAMPLE_CATALOG.read_text()
    with Session(catalog) as s:
        edited = text.replace('["Mon-Fri 20:00-04:00"]', '["Mon-Thu 20:00-04:00"]')
        apply_catalog(session=s, spec=parse_catalog_text(edited, source="edit-1"), now=T0)
        s.commit()
    assert _on_call(client, WEDNESDAY_NOON) == "ryan"
    (kept,) = client.get(swaps_url).json()
    assert kept["applies"] is True

    # ...and when an edit means it no longer fits, both are told (the swap lists the reason).
    with Session(catalog) as s:
        edited = text.replace("members: [emily, ryan, taka]", "members: [ryan, emily, taka]")
        apply_catalog(session=s, spec=parse_catalog_text(edited, source="edit-2"), now=T0)
        s.commit()
    (broken,) = client.get(swaps_url).json()
    assert broken["applies"] is False
    assert {broken["from_person_id"], broken["to_person_id"]} == {"emily", "ryan"}
    assert "held by 'ryan', not 'emily'" in broken["problem"]
