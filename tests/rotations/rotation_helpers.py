"""Shared helpers for the rotation tests: the example rotation, times, and a brute-force
oracle that shares no code with the schedule."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from oncall.rotations.schedule import OverrideSpan, RotationPlan, plan_rotation

# The root conftest's clock (imported by value: `from conftest import` is ambiguous when
# other test folders have a conftest of their own).
T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
EXAMPLE_CATALOG = Path(__file__).parent.parent / "fixtures" / "oncall.yaml"
ZONES = ("America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata")

GROWTH_LAYERS = [
    {
        "name": "weekly",
        "members": ["emily", "ryan", "taka"],
        "start": "2026-01-05T10:00",
        "shift": "1w",
        "restrict": [],
    },
    {
        "name": "follow-the-sun",
        "members": ["taka"],
        "start": "2026-01-05T20:00",
        "shift": "1d",
        "restrict": ["Mon-Fri 20:00-04:00"],
    },
]


def growth_plan() -> RotationPlan:
    return plan_rotation(
        rotation_id="growth-primary", timezone="America/New_York", layers=GROWTH_LAYERS
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[arg-type,misc]


def local(tz: str, *args: int) -> datetime:
    """An aware local time (fold=0), for readable expectations."""
    return datetime(*args, tzinfo=ZoneInfo(tz)).astimezone(UTC)  # type: ignore[arg-type,misc]


# --- an oracle that shares no code with the schedule ------------------------------------------


def first_instant_showing(naive: datetime, tz: ZoneInfo) -> datetime:
    """Brute force: the first instant (minute resolution) whose wall time is >= naive."""
    guess = naive.replace(tzinfo=tz).astimezone(UTC)
    if guess.astimezone(tz).replace(tzinfo=None) == naive:
        return guess
    probe = guess - timedelta(days=1)
    while probe.astimezone(tz).replace(tzinfo=None) < naive:
        probe += timedelta(minutes=1)
    return probe


def oracle_who(
    plan: RotationPlan, at: datetime, overrides: Sequence[OverrideSpan] = ()
) -> tuple[str, str] | None:
    """(person, layer) on call at `at`, the slow and obvious way."""
    covering = [o for o in overrides if o.start <= at < o.end]
    if covering:
        return max(covering, key=lambda o: o.id).person_id, "override"
    tz = ZoneInfo(plan.timezone)
    for layer in reversed(plan.layers):
        step = layer.shift.nominal
        k = -1
        while first_instant_showing(layer.start + (k + 1) * step, tz) <= at:
            k += 1
        if k < 0:
            continue
        if layer.restrict and not _in_window(layer.restrict, at, tz):
            continue
        return layer.members[k % len(layer.members)], layer.name
    return None


def _in_window(windows: Iterable[object], at: datetime, tz: ZoneInfo) -> bool:
    today = at.astimezone(tz).date()
    for back in range(3):
        day: date = today - timedelta(days=back)
        midnight = datetime.combine(day, time())
        for w in windows:
            if day.weekday() not in w.days:  # type: ignore[attr-defined]
                continue
            a = first_instant_showing(midnight + timedelta(minutes=w.start_minutes), tz)  # type: ignore[attr-defined]
            b = first_instant_showing(midnight + timedelta(minutes=w.end_minutes), tz)  # type: ignore[attr-defined]
            if a <= at < b:
                return True
    return False
