"""The small languages of a rotation definition: shift lengths and `restrict` windows.

Parsing lives here so the catalog validator and the schedule computation agree on one meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Literal

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# "Mon" and "Monday" both name Monday; "Mondxx" names nothing.
_DAY_INDEX = {d.lower(): i for i, d in enumerate(DAYS)} | {d: i for i, d in enumerate(_DAY_NAMES)}

ShiftUnit = Literal["h", "d", "w"]
_SHIFT_RE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class ShiftLength:
    """A shift length in wall-clock units: `12h` keeps hand-offs at the same local times."""

    count: int
    unit: ShiftUnit

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"

    @property
    def nominal(self) -> timedelta:
        """The length on a day without a DST change."""
        return timedelta(hours=self.count * {"h": 1, "d": 24, "w": 168}[self.unit])


def parse_shift_length(text: str) -> ShiftLength:
    match = _SHIFT_RE.match(str(text))
    if not match or int(match.group(1)) == 0:
        raise ValueError(
            f"bad shift length {text!r}: use a positive number followed by h, d or w "
            "(12h, 1d, 1w, 2w)"
        )
    count, unit = int(match.group(1)), match.group(2)
    if unit == "h" and 24 % count != 0 and count % 24 != 0:
        raise ValueError(
            f"bad shift length {text!r}: an hourly shift must divide a day (1h, 2h, 3h, 4h, 6h, "
            "8h, 12h) or be whole days (24h, 48h) so hand-offs stay at the same local times"
        )
    return ShiftLength(count=count, unit=unit)  # type: ignore[arg-type]


def parse_duration(text: str) -> timedelta:
    """`0m`, `15m`, `1h`, `90s`, `1d`: an escalation delay or a window."""
    match = _DURATION_RE.match(str(text))
    if not match:
        raise ValueError(
            f"bad duration {text!r}: use a number followed by s, m, h, d or w (0m, 15m, 1h)"
        )
    return timedelta(seconds=int(match.group(1)) * _DURATION_UNITS[match.group(2)])


@dataclass(frozen=True)
class RestrictWindow:
    """`Mon-Fri 20:00-04:00`: covers from 20:00 on each named day until 04:00 the next day.

    A window belongs to the day it starts (DESIGN, Decisions). An end at or before the start
    crosses midnight; `00:00-24:00` or equal times cover the whole day.
    """

    days: frozenset[int]  # 0 = Monday
    start: time
    end_minutes: int  # minutes after the start day's midnight; may exceed 24h

    @property
    def start_minutes(self) -> int:
        return self.start.hour * 60 + self.start.minute

    def __str__(self) -> str:
        day_names = ",".join(DAYS[d] for d in sorted(self.days))
        # An end at midnight of the start day's next day reads best as 24:00 ("00:00-24:00").
        end = 24 * 60 if self.end_minutes == 24 * 60 else self.end_minutes % (24 * 60)
        return f"{day_names} {self.start:%H:%M}-{end // 60:02d}:{end % 60:02d}"


def _parse_days(spec: str) -> frozenset[int]:
    days: set[int] = set()
    for part in spec.split(","):
        part = part.strip().lower()
        if "-" in part:
            first, _, last = part.partition("-")
            if first.strip() not in _DAY_INDEX or last.strip() not in _DAY_INDEX:
                raise ValueError(f"unknown day in {part!r}")
            a, b = _DAY_INDEX[first.strip()], _DAY_INDEX[last.strip()]
            i = a
            while True:
                days.add(i)
                if i == b:
                    break
                i = (i + 1) % 7
        else:
            if part not in _DAY_INDEX:
                raise ValueError(f"unknown day {part!r}")
            days.add(_DAY_INDEX[part])
    return frozenset(days)


def _parse_clock(text: str, *, allow_24: bool) -> int:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match:
        raise ValueError(f"bad time {text!r}: use HH:MM")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not allow_24)):
        raise ValueError(f"bad time {text!r}")
    return hours * 60 + minutes


def parse_restrict_window(text: str) -> RestrictWindow:
    usage = "use DAYS HH:MM-HH:MM, for example 'Mon-Fri 20:00-04:00' or 'Sat,Sun 00:00-24:00'"
    parts = str(text).split()
    if len(parts) == 1 and "-" in parts[0] and ":" in parts[0]:
        parts = ["Mon-Sun", parts[0]]  # a bare time range means every day
    if len(parts) != 2 or parts[1].count("-") != 1:
        raise ValueError(f"bad restrict window {text!r}: {usage}")
    try:
        days = _parse_days(parts[0])
        start_text, end_text = parts[1].split("-")
        start = _parse_clock(start_text, allow_24=False)
        end = _parse_clock(end_text, allow_24=True)
    except ValueError as exc:
        raise ValueError(f"bad restrict window {text!r}: {exc}; {usage}") from None
    if end <= start:
        end += 24 * 60
    return RestrictWindow(days=days, start=time(start // 60, start % 60), end_minutes=end)
