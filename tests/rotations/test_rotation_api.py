"""REST endpoints of rotations and the iCal feed behind its secret token."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar
from rotation_helpers import T0, local
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from oncall.app import create_app
from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.rotations.feeds import create_calendar_token, revoke_calendar_token
from oncall.rotations.models import CalendarToken

NY = "America/New_York"
R = "growth-primary"
EMILY_WEEK = local(NY, 2026, 3, 9, 10)


def test_oncall_answers_for_every_active_rotation_now(client: TestClient) -> None:
    body = client.get("/api/v1/oncall").json()
    assert body["at"] == T0.isoformat()
    by_rotation = {item["rotation_id"]: item["shift"] for item in body["oncall"]}
    assert set(by_rotation) == {"growth-primary", "platform-primary"}
    assert by_rotation[R]["person_id"] == "taka"
    assert by_rotation[R]["person_name"] == "Taka Sato"
    assert by_rotation[R]["layer"] == "weekly"


def test_oncall_for_one_rotation_at_a_time(client: TestClient) -> None:
    at = local(NY, 2026, 3, 10, 23).isoformat()
    body = client.get("/api/v1/oncall", params={"rotation": R, "at": at}).json()
    (item,) = body["oncall"]
    assert (item["shift"]["person_id"], item["shift"]["layer"]) == ("taka", "follow-the-sun")
    # A time without offset is UTC.
    naive = client.get("/api/v1/oncall", params={"rotation": R, "at": "2026-03-10T15:00"}).json()
    assert naive["at"] == "2026-03-10T15:00:00+00:00"
    assert naive["oncall"][0]["shift"]["person_id"] == "emily"


def test_unknown_rotation_is_404_and_bad_times_are_422(client: TestClient) -> None:
    missing = client.get("/api/v1/oncall", params={"rotation": "nope"})
    assert missing.status_code == 404 and missing.json()["detail"] == "unknown rotation 'nope'"
    assert client.get("/api/v1/rotations/nope/shifts").status_code == 404
    bad = client.get("/api/v1/oncall", params={"at": "tomorrow"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "at"]
    backwards = client.get(
        f"/api/v1/rotations/{R}/shifts", params={"from": "2026-03-10", "to": "2026-03-01"}
    )
    assert backwards.status_code == 422 and "after" in backwards.json()["detail"][0]["msg"]
    too_long = client.get(
        f"/api/v1/rotations/{R}/shifts", params={"from": "2026-01-01", "to": "2027-06-01"}
    )
    assert too_long.status_code == 422


def test_shifts_in_a_range_are_the_final_schedule(client: TestClient) -> None:
    start, end = local(NY, 2026, 3, 9, 10), local(NY, 2026, 3, 10, 10)
    body = client.get(
        f"/api/v1/rotations/{R}/shifts", params={"from": start.isoformat(), "to": end.isoformat()}
    ).json()
    assert [(s["person_id"], s["layer"], s["start"]) for s in body["shifts"]] == [
        ("emily", "weekly", start.isoformat()),
        ("taka", "follow-the-sun", local(NY, 2026, 3, 9, 20).isoformat()),
        ("emily", "weekly", local(NY, 2026, 3, 10, 4).isoformat()),
    ]


def test_overrides_through_rest_add_list_and_remove(client: TestClient) -> None:
    url = f"/api/v1/rotations/{R}/overrides"
    start, end = T0 + timedelta(hours=1), T0 + timedelta(hours=5)
    created = client.post(
        url,
        params={"by": "emily"},
        json={"person_id": "ana", "starts_at": start.isoformat(), "ends_at": end.isoformat()},
    )
    assert created.status_code == 201
    override = created.json()
    assert override["created_by"] == "emily" and override["person_id"] == "ana"
    at = (start + timedelta(hours=1)).isoformat()
    who = client.get("/api/v1/oncall", params={"rotation": R, "at": at}).json()
    assert who["oncall"][0]["shift"]["source"] == "override"
    assert [o["id"] for o in client.get(url).json()] == [override["id"]]
    removed = client.delete(f"{url}/{override['id']}")
    assert removed.status_code == 200 and removed.json()["removed_by"] == "api"
    assert client.get(url).json() == []
    assert [o["id"] for o in client.get(url, params={"all": "true"}).json()] == [override["id"]]
    assert client.delete(f"{url}/{override['id'] + 100}").status_code == 404


def test_bad_override_bodies_get_422_with_reasons(client: TestClient) -> None:
    url = f"/api/v1/rotations/{R}/overrides"
    backwards = client.post(
        url,
        json={
            "person_id": "ana",
            "starts_at": T0.isoformat(),
            "ends_at": (T0 - timedelta(hours=1)).isoformat(),
        },
    )
    assert backwards.status_code == 422
    (reason,) = backwards.json()["detail"]
    assert reason["loc"] == ["body", "end"] and "before it starts" in reason["msg"]
    missing = client.post(url, json={"person_id": "ana"})
    assert missing.status_code == 422
    assert {tuple(e["loc"]) for e in missing.json()["detail"]} >= {("body", "starts_at")}
    nobody = client.post(
        url,
        json={"person_id": "zoe", "starts_at": T0.isoformat(), "ends_at": T0.isoformat()},
    )
    assert nobody.status_code == 404
    refused = client.post(
        url,
        params={"by": "ben"},
        json={
            "person_id": "ana",
            "starts_at": T0.isoformat(),
            "ends_at": (T0 + timedelta(hours=1)).isoformat(),
        },
    )
    assert refused.status_code == 403


def test_swaps_through_rest_request_accept_and_list(client: TestClient) -> None:
    url = f"/api/v1/rotations/{R}/swaps"
    created = client.post(
        url,
        params={"by": "emily"},
        json={
            "layer": "weekly",
            "shift_start": EMILY_WEEK.isoformat(),
            "from_person_id": "emily",
            "to_person_id": "ryan",
        },
    )
    assert created.status_code == 201, created.text
    swap = created.json()
    assert (swap["status"], swap["applies"]) == ("requested", False)
    declined_by_wrong_person = client.post(f"{url}/{swap['id']}/accept", params={"by": "taka"})
    assert declined_by_wrong_person.status_code == 403
    accepted = client.post(f"{url}/{swap['id']}/accept", params={"by": "ryan"})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    (listed,) = client.get(url).json()
    assert (listed["id"], listed["applies"], listed["problem"]) == (swap["id"], True, None)
    at = local(NY, 2026, 3, 10, 12).isoformat()
    who = client.get("/api/v1/oncall", params={"rotation": R, "at": at}).json()
    assert who["oncall"][0]["shift"]["person_id"] == "ryan"
    again = client.post(f"{url}/{swap['id']}/decline")
    assert (
        again.status_code == 422 and "accepted, not requested" in again.json()["detail"][0]["msg"]
    )
    assert client.post(f"{url}/999/accept").status_code == 404


def test_a_swap_of_no_shift_is_422_naming_the_nearest(client: TestClient) -> None:
    response = client.post(
        f"/api/v1/rotations/{R}/swaps",
        json={
            "layer": "weekly",
            "shift_start": (EMILY_WEEK + timedelta(hours=2)).isoformat(),
            "from_person_id": "emily",
            "to_person_id": "ryan",
        },
    )
    assert response.status_code == 422
    (reason,) = response.json()["detail"]
    assert reason["loc"] == ["body", "shift_start"]
    assert "nearest starts at 2026-03-09 10:00" in reason["msg"]


def test_fairness_endpoint_reports_hours_per_person(client: TestClient) -> None:
    body = client.get(
        f"/api/v1/rotations/{R}/fairness",
        params={"from": "2026-03-02T15:00:00Z", "to": "2026-03-09T14:00:00Z"},
    ).json()
    hours = {p["person_id"]: p["hours"] for p in body["people"]}
    assert hours == {"taka": 167.0}  # the weekly layer and the nights: all Taka's week


@pytest.fixture
def guarded(catalog: Engine, clock: FrozenClock) -> Iterator[TestClient]:
    settings = Settings(ONCALL_DATABASE_URL="sqlite://", ONCALL_WEBHOOK_TOKEN="s3cret-token")
    with TestClient(create_app(settings, engine=catalog, clock=clock, background=False)) as c:
        yield c


def test_mutations_need_the_webhook_token_when_one_is_set(guarded: TestClient) -> None:
    url = f"/api/v1/rotations/{R}/overrides"
    body = {
        "person_id": "ana",
        "starts_at": T0.isoformat(),
        "ends_at": (T0 + timedelta(hours=1)).isoformat(),
    }
    assert guarded.post(url, json=body).status_code == 401
    assert guarded.post(f"/api/v1/rotations/{R}/swaps/1/accept").status_code == 401
    ok = guarded.post(url, json=body, headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 201
    assert guarded.get(url).status_code == 200  # reading needs no token


# --- calendar feeds --------------------------------------------------------------------------


def _token(engine: Engine, **target: str) -> tuple[int, str]:
    with Session(engine) as s:
        row, token = create_calendar_token(session=s, now=T0, **target)
        s.commit()
        return row.id or 0, token


def test_feed_serves_the_rotation_calendar_for_a_valid_token(
    client: TestClient, catalog: Engine
) -> None:
    _, token = _token(catalog, rotation_id=R)
    response = client.get(f"/calendar/{token}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(response.content)
    events = calendar.walk("VEVENT")
    starts = [e.decoded("DTSTART") for e in events]
    # The default window: 30 days back, 180 ahead.
    assert min(starts) == T0 - timedelta(days=30)
    assert max(e.decoded("DTEND") for e in events) == T0 + timedelta(days=180)


def test_only_the_hash_of_a_token_is_stored(catalog: Engine) -> None:
    _, token = _token(catalog, person_id="emily")
    with Session(catalog) as s:
        (row,) = s.exec(select(CalendarToken)).all()
    assert row.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(row.model_dump())


def test_revoked_and_unknown_tokens_get_404(client: TestClient, catalog: Engine) -> None:
    token_id, token = _token(catalog, person_id="emily")
    assert client.get(f"/calendar/{token}.ics").status_code == 200
    with Session(catalog) as s:
        revoke_calendar_token(session=s, token_id=token_id, now=T0)
        s.commit()
    assert client.get(f"/calendar/{token}.ics").status_code == 404
    assert client.get("/calendar/not-a-token.ics").status_code == 404


def test_the_helpers_t0_is_the_clock_of_the_shared_fixtures(clock: FrozenClock) -> None:
    assert clock() == T0
