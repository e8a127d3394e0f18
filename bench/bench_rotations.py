"""Rotation benchmark: `who` with 1,000 overrides on a 5-year-old rotation, and a one-year
iCal export of a 3-layer rotation.

What it measures, beside what:
- `who` (pure, prepared override index) and `who_is_on_call` (SQLite, one session per call as
  in an HTTP request), against a bare zoneinfo conversion and against computing one hand-off.
  Target: under 1 ms per call.
- A one-year export (compute the final shifts, render iCalendar), pure and from SQLite,
  against computing the same year's shifts alone. Target: under 100 ms.

Run: `python bench/bench_rotations.py` (`--quick`: fewer repetitions, for a smoke test).
Prints absolute figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import Session, SQLModel

import oncall.tables  # noqa: F401  (registers every table)
from oncall.catalog.models import Person, Rotation, Team
from oncall.db import make_engine
from oncall.rotations.ical import export_rotation_ics, render_calendar
from oncall.rotations.models import Override
from oncall.rotations.queries import who_is_on_call
from oncall.rotations.schedule import (
    OverrideIndex,
    OverrideSpan,
    compute_shifts,
    hand_off,
    on_call_at,
    plan_rotation,
)

NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
TZ = "America/New_York"
PEOPLE = ["emily", "ryan", "taka", "ana", "ben", "kai", "lee", "mo"]
LAYERS = [
    {"name": "weekly", "members": PEOPLE[:5], "start": "2021-03-01T10:00", "shift": "1w"},
    {
        "name": "nights",
        "members": ["taka", "kai"],
        "start": "2021-03-01T20:00",
        "shift": "1d",
        "restrict": ["Mon-Fri 20:00-04:00"],
    },
    {
        "name": "weekend",
        "members": ["lee", "mo", "ben"],
        "start": "2021-03-06T09:00",
        "shift": "12h",
        "restrict": ["Sat,Sun 09:00-21:00"],
    },
]


QUICK = False


def per_call(fn: Callable[[int], object], calls: int, rounds: int = 5) -> float:
    """Median over `rounds` of the mean seconds per call."""
    if QUICK:
        calls, rounds = max(1, calls // 50), 1
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        for i in range(calls):
            fn(i)
        samples.append((time.perf_counter() - began) / calls)
    return statistics.median(samples)


def overrides(count: int, rng: random.Random) -> list[OverrideSpan]:
    """`count` overrides spread over the rotation's five years, a few hours to two days each."""
    first = datetime(2021, 3, 1, tzinfo=UTC)
    span = (NOW + timedelta(days=60) - first).total_seconds()
    out = []
    for i in range(count):
        start = first + timedelta(seconds=rng.uniform(0, span))
        out.append(
            OverrideSpan(
                i + 1, rng.choice(PEOPLE), start, start + timedelta(hours=rng.uniform(2, 48))
            )
        )
    return out


def seed_database(path: Path, spans: list[OverrideSpan]) -> str:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as s:
        s.add(Team(id="ds", name="Data Science", leads=[]))
        for p in PEOPLE:
            s.add(Person(id=p, name=p.title(), timezone=TZ))
        s.flush()  # referenced rows first: the tables declare foreign keys, not relationships
        s.add(Rotation(id="main", team_id="ds", timezone=TZ, layers=LAYERS))
        s.flush()
        for o in spans:
            s.add(
                Override(
                    rotation_id="main",
                    person_id=o.person_id,
                    starts_at=o.start,
                    ends_at=o.end,
                    created_at=NOW,
                )
            )
        s.commit()
    engine.dispose()
    return url


def main() -> None:
    global QUICK
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="few repetitions (smoke test)")
    QUICK = parser.parse_args().quick
    rng = random.Random(42)
    plan = plan_rotation(rotation_id="main", timezone=TZ, layers=LAYERS)
    tz = ZoneInfo(TZ)
    spans = overrides(1000, rng)
    index = OverrideIndex("main", spans)
    instants = [NOW + timedelta(seconds=rng.uniform(-86400 * 30, 86400 * 30)) for _ in range(997)]

    print("rotation: 3 layers (1w, 1d nights, 12h weekends), started 2021-03-01, 1,000 overrides")
    print()
    zone = per_call(lambda i: instants[i % 997].astimezone(tz), 20000)
    one_shift = per_call(lambda i: hand_off(plan.layers[0], tz, 260 + i % 7), 20000)
    print(f"baseline: zoneinfo conversion          {zone * 1e6:8.2f} µs")
    print(f"baseline: one hand-off (one shift)     {one_shift * 1e6:8.2f} µs")

    pure_who = per_call(lambda i: on_call_at(plan, at=instants[i % 997], overrides=index), 3000)
    build_index = per_call(lambda i: OverrideIndex("main", spans), 20, rounds=3)
    print()
    print(
        f"who, pure (prepared index)             {pure_who * 1e6:8.2f} µs"
        f"   = {pure_who / zone:6.0f}x a conversion, {pure_who / one_shift:5.1f}x a hand-off"
    )
    print(f"  building the 1,000-override index     {build_index * 1e3:8.2f} ms (once per load)")

    with tempfile.TemporaryDirectory() as folder:
        url = seed_database(Path(folder) / "bench.db", spans)
        engine = make_engine(url)

        def db_who(i: int) -> object:
            with Session(engine) as s:
                return who_is_on_call(session=s, rotation_id="main", at=instants[i % 997])

        db_who(0)  # warm the engine's pool and the plan cache
        service_who = per_call(db_who, 1000)
        print(
            f"who_is_on_call, SQLite, session/call   {service_who * 1e6:8.2f} µs"
            f"   = {service_who / pure_who:5.1f}x pure; target < 1000 µs"
        )

        year = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
        compute = per_call(
            lambda i: compute_shifts(plan, start=year[0], end=year[1], overrides=index), 5
        )
        shifts = compute_shifts(plan, start=year[0], end=year[1], overrides=index)
        render = per_call(
            lambda i: render_calendar(
                shifts=shifts, name="main", timezones={"main": TZ}, people={}, now=NOW
            ),
            5,
        )

        def db_export(i: int) -> bytes:
            with Session(engine) as s:
                return export_rotation_ics(
                    session=s, rotation_id="main", start=year[0], end=year[1], now=NOW
                )

        export = per_call(db_export, 5)
        size = len(db_export(0))
        engine.dispose()
    print()
    print(f"one year, final shifts ({len(shifts)} events)   {compute * 1e3:8.2f} ms")
    print(
        f"one year, iCalendar rendering           {render * 1e3:8.2f} ms"
        f"   = {render / compute:4.1f}x computing the shifts"
    )
    print(
        f"one year, export from SQLite ({size // 1024} KiB)   {export * 1e3:8.2f} ms"
        f"   = {export / compute:4.1f}x computing the shifts; target < 100 ms"
    )


if __name__ == "__main__":
    main()
