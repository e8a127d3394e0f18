"""iCalendar export: parses back to exactly the final shifts, follows RFC 5545 to the letter
(CRLF, folding, PRODID, VERSION, VTIMEZONE per TZID), and keeps UIDs stable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar
from rotation_helpers import T0, growth_plan, local, utc
from sqlalchemy.engine import Engine
from sqlmodel import Session

from oncall.rotations import overrides, queries, swaps
from oncall.rotations.ical import (
    event_uid,
    export_person_ics,
    export_rotation_ics,
    render_calendar,
)
from oncall.rotations.schedule import OverrideSpan, Shift, compute_shifts, plan_rotation

NY = "America/New_York"
R = "growth-primary"


def _events(data: bytes) -> list[tuple[str, str, datetime, datetime, str]]:
    calendar = Calendar.from_ical(data)
    return [
        (
            str(e["UID"]),
            str(e["SUMMARY"]),
            e.decoded("DTSTART").astimezone(UTC),
            e.decoded("DTEND").astimezone(UTC),
            str(e["DESCRIPTION"]),
        )
        for e in calendar.walk("VEVENT")
    ]


def test_export_parses_back_to_exactly_the_final_shifts_with_overrides(
    catalog: Engine, session: Session
) -> None:
    start, end = T0, T0 + timedelta(days=28)
    overrides.add_override(
        session=session,
        rotation_id=R,
        person_id="ana",
        start=local(NY, 2026, 3, 10, 12),
        end=local(NY, 2026, 3, 12, 12),
        now=T0,
    )
    session.commit()
    shifts = queries.final_shifts(session=session, rotation_id=R, start=start, end=end)
    assert any(s.source == "override" for s in shifts)
    data = export_rotation_ics(session=session, rotation_id=R, start=start, end=end, now=T0)
    events = _events(data)
    assert [(e[2], e[3]) for e in events] == [(s.start, s.end) for s in shifts]
    assert [e[0] for e in events] == [event_uid(s) for s in shifts]
    names = {"emily": "Emily Curtin", "ryan": "Ryan Curtin", "taka": "Taka Sato", "ana": "Ana Lima"}
    for (_, summary, *_), shift in zip(events, shifts, strict=True):
        assert R in summary and names[shift.person_id] in summary
    assert "(override)" in events[[s.source for s in shifts].index("override")][1]


def test_document_follows_rfc_5545_line_rules_and_names_every_timezone(
    catalog: Engine, session: Session
) -> None:
    data = export_rotation_ics(
        session=session, rotation_id=R, start=T0, end=T0 + timedelta(days=60), now=T0
    )
    assert data.startswith(b"BEGIN:VCALENDAR\r\n") and data.endswith(b"END:VCALENDAR\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")  # every line ends in CRLF
    lines = data.split(b"\r\n")
    assert all(len(line) <= 75 for line in lines)  # folded at 75 octets
    assert b"VERSION:2.0" in lines and b"PRODID:-//oncall//Rotations//EN" in lines
    calendar = Calendar.from_ical(data)
    assert calendar.get_missing_tzids() == set()
    assert [tz.tz_name for tz in calendar.timezones] == [NY]
    for event in calendar.walk("VEVENT"):
        assert event["DTSTART"].params["TZID"] == NY
        assert event.decoded("DTSTAMP") == T0
    # The window crosses the March DST change: the zone states both offsets.
    zone_text = calendar.timezones[0].to_ical()
    assert b"TZOFFSETTO:-0400" in zone_text and b"TZOFFSETTO:-0500" in zone_text


def test_uids_are_stable_across_exports_and_a_swap_updates_the_event_in_place(
    catalog: Engine, session: Session
) -> None:
    window = {"start": T0, "end": T0 + timedelta(days=21)}
    first = _events(export_rotation_ics(session=session, rotation_id=R, now=T0, **window))
    again = _events(
        export_rotation_ics(session=session, rotation_id=R, now=T0 + timedelta(hours=1), **window)
    )
    assert [e[0] for e in first] == [e[0] for e in again]
    assert len({e[0] for e in first}) == len(first)  # unique within the feed
    swap = swaps.request_swap(
        session=session,
        rotation_id=R,
        layer="weekly",
        shift_start=local(NY, 2026, 3, 9, 10),
        from_person_id="emily",
        to_person_id="ryan",
        now=T0,
    )
    swaps.accept_swap(session=session, swap_id=swap.id or 0, now=T0)
    session.commit()
    swapped = _events(export_rotation_ics(session=session, rotation_id=R, now=T0, **window))
    before = {e[0]: e[1] for e in first}
    after = {e[0]: e[1] for e in swapped}
    assert before.keys() == after.keys()
    changed = [uid for uid in before if before[uid] != after[uid]]
    assert changed and all("Ryan Curtin (swap)" in after[uid] for uid in changed)


def test_the_second_run_of_a_repeated_hour_is_written_in_utc_so_it_reads_back_right() -> None:
    plan = plan_rotation(
        rotation_id="r",
        timezone=NY,
        layers=[{"members": ["a", "b"], "start": "2026-10-31T00:00", "shift": "1h"}],
    )
    start, end = utc(2026, 11, 1, 4), utc(2026, 11, 1, 9)
    # 06:15-06:45 UTC is 01:15-01:45 EST, the second time New York's clocks show 01:xx.
    cover = [OverrideSpan(1, "c", utc(2026, 11, 1, 6, 15), utc(2026, 11, 1, 6, 45))]
    shifts = compute_shifts(plan, start=start, end=end, overrides=cover)
    data = render_calendar(shifts=shifts, name="r", timezones={"r": NY}, people={}, now=start)
    events = _events(data)
    assert [(e[2], e[3]) for e in events] == [(s.start, s.end) for s in shifts]
    assert b"DTSTART:20261101T061500Z" in data and b"DTEND:20261101T064500Z" in data
    assert b"DTSTART;TZID=America/New_York:20261101T010000" in data  # first run: local


def test_personal_feed_spans_rotations_and_keeps_only_that_persons_shifts(
    catalog: Engine, session: Session
) -> None:
    overrides.add_override(
        session=session,
        rotation_id="platform-primary",
        person_id="taka",
        start=T0 + timedelta(days=1),
        end=T0 + timedelta(days=1, hours=6),
        now=T0,
    )
    session.commit()
    start, end = T0, T0 + timedelta(days=14)
    data = export_person_ics(session=session, person_id="taka", start=start, end=end, now=T0)
    expected: list[Shift] = []
    for rotation in ("growth-primary", "platform-primary"):
        expected += [
            s
            for s in queries.final_shifts(
                session=session, rotation_id=rotation, start=start, end=end
            )
            if s.person_id == "taka"
        ]
    expected.sort(key=lambda s: s.start)
    events = _events(data)
    assert [(e[2], e[3]) for e in events] == [(s.start, s.end) for s in expected]
    assert {tz.tz_name for tz in Calendar.from_ical(data).timezones} == {NY, "Europe/Berlin"}
    assert all("Taka Sato" in e[1] for e in events)


def test_a_year_of_a_rotation_renders_in_one_document_with_one_event_per_shift() -> None:
    plan = growth_plan()
    overrides = [OverrideSpan(1, "ana", utc(2026, 5, 1), utc(2026, 5, 3))]
    shifts = compute_shifts(plan, start=utc(2026, 1, 1), end=utc(2027, 1, 1), overrides=overrides)
    data = render_calendar(
        shifts=shifts, name="year", timezones={"growth-primary": NY}, people={}, now=utc(2026, 1, 1)
    )
    assert len(Calendar.from_ical(data).walk("VEVENT")) == len(shifts)


def test_long_and_non_ascii_text_is_folded_on_character_boundaries_and_escaped() -> None:
    plan = growth_plan()
    shifts = compute_shifts(plan, start=utc(2026, 3, 9, 14), end=utc(2026, 3, 9, 18))
    name = "Zoë Ångström-Łukasiewicz; von Hohenzollern, Sigmaringen und Weißenfels-Querfurt"
    data = render_calendar(
        shifts=shifts,
        name="r",
        timezones={"growth-primary": NY},
        people={"emily": name},
        now=utc(2026, 3, 1),
    )
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))
    data.decode("utf-8")  # folding never splits a multi-byte character
    (event,) = Calendar.from_ical(data).walk("VEVENT")
    assert str(event["SUMMARY"]) == f"On call for growth-primary: {name}"
