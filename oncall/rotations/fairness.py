"""On-call load per person: hours on call, weekend hours and night hours.

Weekend (Saturday and Sunday) and night (22:00-08:00) are read in each person's own time zone:
a Tokyo daytime shift covering New York's night is not a night for the person in Tokyo.
An hour that is both (Saturday 23:00) counts in both columns. Pure: takes final shifts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from oncall.rotations.schedule import Shift
from oncall.rotations.wallclock import local_to_utc, utc_to_local

NIGHT_STARTS = time(22, 0)
NIGHT_ENDS = time(8, 0)
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Load:
    person_id: str
    timezone: str
    hours: float
    weekend_hours: float
    night_hours: float
    shifts: int

    def to_dict(self) -> dict[str, object]:
        return {
            "person_id": self.person_id,
            "timezone": self.timezone,
            "hours": self.hours,
            "weekend_hours": self.weekend_hours,
            "night_hours": self.night_hours,
            "shifts": self.shifts,
        }


def _overlap(a: datetime, b: datetime, c: datetime, d: datetime) -> timedelta:
    return max(timedelta(0), min(b, d) - max(a, c))


def _split(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[timedelta, timedelta]:
    """(weekend, night) time of [start, end) in `tz`, walking its local days."""
    weekend = night = timedelta(0)
    day = utc_to_local(start, tz).date() - timedelta(days=1)
    last = utc_to_local(end, tz).date()
    while day <= last:
        midnight = datetime.combine(day, time())
        day_start = local_to_utc(midnight, tz)
        day_end = local_to_utc(midnight + timedelta(days=1), tz)
        if day.weekday() >= 5:
            weekend += _overlap(start, end, day_start, day_end)
        morning_end = local_to_utc(datetime.combine(day, NIGHT_ENDS), tz)
        evening_start = local_to_utc(datetime.combine(day, NIGHT_STARTS), tz)
        night += _overlap(start, end, day_start, morning_end)
        night += _overlap(start, end, evening_start, day_end)
        day += timedelta(days=1)
    return weekend, night


def fairness(
    shifts: Iterable[Shift], *, timezones: Mapping[str, str], default_timezone: str = "UTC"
) -> list[Load]:
    """Load per person over the given shifts, heaviest first. `timezones` maps person ids to
    their IANA time zone; people missing from it use `default_timezone`."""
    totals: dict[str, list[timedelta]] = {}
    counts: dict[str, set[tuple[object, ...]]] = {}
    for shift in shifts:
        tz_name = timezones.get(shift.person_id, default_timezone)
        weekend, night = _split(shift.start, shift.end, ZoneInfo(tz_name))
        row = totals.setdefault(shift.person_id, [timedelta(0)] * 3)
        row[0] += shift.duration
        row[1] += weekend
        row[2] += night
        # Pieces of one layer shift (cut by restrictions or other layers) count as one shift.
        counts.setdefault(shift.person_id, set()).add(
            (shift.rotation_id, shift.layer, shift.shift_start, shift.override_id)
        )
    loads = [
        Load(
            person_id=person,
            timezone=timezones.get(person, default_timezone),
            hours=round(row[0] / _HOUR, 2),
            weekend_hours=round(row[1] / _HOUR, 2),
            night_hours=round(row[2] / _HOUR, 2),
            shifts=len(counts[person]),
        )
        for person, row in totals.items()
    ]
    return sorted(loads, key=lambda load: (-load.hours, load.person_id))
