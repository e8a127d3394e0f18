"""iCalendar (RFC 5545) export of final shifts: one VEVENT per shift, with stable UIDs.

`render_calendar` is pure (shifts and names in, bytes out); the `export_*` functions load
the shifts from the database. Lines end in CRLF and fold at 75 octets; every TZID used gets
its VTIMEZONE (Outlook and Apple Calendar need them, Google tolerates them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from icalendar import Calendar, Timezone, vText
from icalendar.parser import Contentline
from sqlmodel import Session, col, select

from oncall.catalog.models import Person
from oncall.catalog.service import get_person, get_rotation, list_rotations
from oncall.rotations.queries import final_shifts, person_shifts
from oncall.rotations.schedule import Shift

PRODID = "-//oncall//Rotations//EN"
# The default feed window: a month of history, half a year ahead (docs/rotations.md).
FEED_DAYS_BACK = 30
FEED_DAYS_AHEAD = 180
# Calendar apps poll subscribed feeds; ask for an hourly refresh (Google decides for itself).
REFRESH = timedelta(hours=1)
CRLF = "\r\n"
_END = "END:VCALENDAR" + CRLF


def feed_window(now: datetime) -> tuple[datetime, datetime]:
    return now - timedelta(days=FEED_DAYS_BACK), now + timedelta(days=FEED_DAYS_AHEAD)


def event_uid(shift: Shift) -> str:
    """Stable across exports: the same stretch of the same shift keeps its UID, so a calendar
    that re-imports the file (or polls the feed) updates the event instead of adding another.
    The person is left out on purpose: a swap then updates the event in place."""
    origin = (
        f"override/{shift.override_id}"
        if shift.override_id is not None
        else f"{shift.layer}/{shift.shift_start.isoformat() if shift.shift_start else ''}"
    )
    key = f"{shift.rotation_id}|{origin}|{shift.start.isoformat()}"
    return f"{hashlib.sha256(key.encode()).hexdigest()[:32]}@oncall"


def _ical_time(instant: datetime, tz: ZoneInfo, tzid: str) -> str:
    """`;TZID=...:YYYYMMDDTHHMMSS` in the rotation's zone, except the second run of a repeated
    hour (autumn): RFC 5545 reads a repeated local time as its first occurrence, so that
    instant is written in UTC (`:...Z`) to read back exactly."""
    local = instant.astimezone(tz)
    if local.replace(fold=0).astimezone(UTC) != instant:
        return f":{instant.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    return f";TZID={tzid}:{local:%Y%m%dT%H%M%S}"


def _summary(shift: Shift, person_name: str) -> str:
    how = {"override": " (override)", "swap": " (swap)", "layer": ""}[shift.source]
    return f"On call for {shift.rotation_id}: {person_name}{how}"


def _description(shift: Shift, tz: ZoneInfo, timezone: str) -> str:
    lines = [f"Rotation: {shift.rotation_id}"]
    if shift.source == "override":
        lines.append(f"Override {shift.override_id}")
    else:
        lines.append(f"Layer: {shift.layer}")
        if shift.shift_start is not None:
            local = shift.shift_start.astimezone(tz)
            lines.append(f"Shift starting {local:%Y-%m-%d %H:%M} {timezone}")
        if shift.swap_id is not None:
            lines.append(f"Handed over by swap {shift.swap_id}")
    return "\n".join(lines)


def _text(value: str) -> str:
    """A TEXT value escaped as RFC 5545 says (backslash, semicolon, comma, newline)."""
    escaped: bytes = vText(value).to_ical()
    return escaped.decode()


def _line(content: str) -> str:
    # Fold only the long lines: icalendar's folding is exact but slow, most lines are short.
    if len(content) <= 75 and content.isascii():
        return content + CRLF
    folded: bytes = Contentline(content).to_ical()  # type: ignore[no-untyped-call]
    return folded.decode() + CRLF


@lru_cache(maxsize=64)
def _vtimezone(tzid: str, first_year: int, last_year: int) -> str:
    """A VTIMEZONE for whole years (generating one is slow: cached)."""
    zone = Timezone.from_tzid(
        tzid, first_date=date(first_year, 1, 1), last_date=date(last_year, 12, 31)
    )
    text: bytes = zone.to_ical()
    return text.decode()


def _event(shift: Shift, tz: ZoneInfo, timezone: str, person_name: str, stamp: str) -> str:
    return "".join(
        (
            "BEGIN:VEVENT" + CRLF,
            _line(f"UID:{event_uid(shift)}"),
            f"DTSTAMP:{stamp}" + CRLF,
            _line("DTSTART" + _ical_time(shift.start, tz, timezone)),
            _line("DTEND" + _ical_time(shift.end, tz, timezone)),
            _line("SUMMARY:" + _text(_summary(shift, person_name))),
            _line("DESCRIPTION:" + _text(_description(shift, tz, timezone))),
            "CATEGORIES:on-call" + CRLF,
            # Being on call is not a meeting: keep the person's free/busy time free.
            "TRANSP:TRANSPARENT" + CRLF,
            "END:VEVENT" + CRLF,
        )
    )


def render_calendar(
    *,
    shifts: Sequence[Shift],
    name: str,
    timezones: Mapping[str, str],
    people: Mapping[str, str],
    now: datetime,
    default_timezone: str = "UTC",
) -> bytes:
    """An iCalendar document with one event per shift.

    `timezones` maps rotation ids to their time zone (events are written in it); `people`
    maps person ids to display names; `now` is the DTSTAMP of every event.

    The calendar's properties and the VTIMEZONEs come from `icalendar`; the events are
    written line by line (a year of shifts is hundreds of events, and building each as an
    `icalendar.Event` costs 0.2 ms). The tests parse the result back with `icalendar`.
    """
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("name", name)
    calendar.add("x-wr-calname", name)
    used = sorted({timezones.get(s.rotation_id, default_timezone) for s in shifts})
    if len(used) == 1:
        calendar.add("x-wr-timezone", used[0])
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    head: str = calendar.to_ical().decode()
    assert head.endswith(_END)
    parts = [head.removesuffix(_END)]
    if shifts:
        # Whole years around the events: each VTIMEZONE states the rules of every event.
        first = min(s.start for s in shifts).year - 1
        last = max(s.end for s in shifts).year + 1
        parts += [_vtimezone(tzid, first, last) for tzid in used]
    stamp = f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    zones = {tzid: ZoneInfo(tzid) for tzid in used}
    for shift in shifts:
        timezone = timezones.get(shift.rotation_id, default_timezone)
        name_of = people.get(shift.person_id, shift.person_id)
        parts.append(_event(shift, zones[timezone], timezone, name_of, stamp))
    parts.append(_END)
    return "".join(parts).encode()


# --- exports from the database ---------------------------------------------------------------


def _names(session: Session, person_ids: set[str]) -> dict[str, str]:
    if not person_ids:
        return {}
    rows = session.exec(select(Person).where(col(Person.id).in_(person_ids)))
    return {p.id: p.name for p in rows}


def _zones(session: Session) -> dict[str, str]:
    return {r.id: r.timezone for r in list_rotations(session=session, include_retired=True)}


def export_rotation_ics(
    *,
    session: Session,
    rotation_id: str,
    start: datetime,
    end: datetime,
    now: datetime,
    person_id: str | None = None,
) -> bytes:
    """A rotation's final shifts in [start, end) as iCalendar; with `person_id`, only theirs."""
    rotation = get_rotation(session=session, rotation_id=rotation_id)
    shifts = final_shifts(session=session, rotation_id=rotation_id, start=start, end=end)
    name = f"On call: {rotation_id}"
    if person_id is not None:
        person = get_person(session=session, person_id=person_id)
        shifts = [s for s in shifts if s.person_id == person_id]
        name = f"On call: {rotation_id} ({person.name})"
    return render_calendar(
        shifts=shifts,
        name=name,
        timezones={rotation_id: rotation.timezone},
        people=_names(session, {s.person_id for s in shifts}),
        now=now,
        default_timezone=rotation.timezone,
    )


def export_person_ics(
    *, session: Session, person_id: str, start: datetime, end: datetime, now: datetime
) -> bytes:
    """One person's final shifts across every rotation (the personal feed): a shift they
    swapped away is not in it, a shift they took over is."""
    person = get_person(session=session, person_id=person_id)
    shifts = person_shifts(session=session, person_id=person_id, start=start, end=end)
    return render_calendar(
        shifts=shifts,
        name=f"On call: {person.name}",
        timezones=_zones(session),
        people={person.id: person.name},
        now=now,
        default_timezone=person.timezone,
    )
