"""The computed schedule: layers, restrictions, precedence, overrides; properties for all
rotations (hypothesis) checked against a brute-force oracle."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rotation_helpers import ZONES, growth_plan, local, oracle_who, utc

from oncall.rotations.schedule import (
    OverrideIndex,
    OverrideSpan,
    RotationPlan,
    Shift,
    compute_shifts,
    gaps,
    layers_on_call,
    on_call_at,
    plan_rotation,
)

NY = "America/New_York"


def who(
    plan: RotationPlan, at: datetime, overrides: list[OverrideSpan] | None = None
) -> str | None:
    shift = on_call_at(plan, at=at, overrides=overrides or ())
    return shift.person_id if shift else None


# --- restrict windows (DESIGN, Decisions → Rotations) -----------------------------------------


def test_restrict_window_crossing_midnight_belongs_to_its_start_day() -> None:
    plan = growth_plan()
    # The week of 2026-03-02 is taka's on the weekly layer; use a week where emily holds it.
    assert who(plan, local(NY, 2026, 3, 13, 21)) == "taka"  # Friday 21:00: the window runs
    assert who(plan, local(NY, 2026, 3, 14, 3, 59)) == "taka"  # Saturday 03:59: still Friday's
    assert who(plan, local(NY, 2026, 3, 14, 4)) == "emily"  # Saturday 04:00: window over
    assert who(plan, local(NY, 2026, 3, 14, 21)) == "emily"  # Saturday 21:00: not a window day
    assert who(plan, local(NY, 2026, 3, 16, 2)) == "emily"  # Monday 02:00 belongs to Sunday


def test_a_layer_keeps_cycling_while_it_is_restricted_out() -> None:
    plan = plan_rotation(
        rotation_id="r",
        timezone=NY,
        layers=[
            {"members": ["base"], "start": "2026-01-05T00:00", "shift": "1w"},
            {
                "members": ["a", "b", "c"],
                "start": "2026-01-05T00:00",
                "shift": "1d",
                "restrict": ["Mon 09:00-17:00"],
            },
        ],
    )
    # Daily cycle a, b, c, a, ... whatever the window: Monday 2026-01-05 is day 0 (a),
    # Monday 2026-01-12 is day 7 (b), Monday 2026-01-19 is day 14 (c).
    assert who(plan, local(NY, 2026, 1, 5, 10)) == "a"
    assert who(plan, local(NY, 2026, 1, 12, 10)) == "b"
    assert who(plan, local(NY, 2026, 1, 19, 10)) == "c"
    assert who(plan, local(NY, 2026, 1, 13, 10)) == "base"


def test_a_later_layer_wins_where_it_covers_and_layers_without_name_are_numbered() -> None:
    plan = plan_rotation(
        rotation_id="r",
        timezone="Europe/Berlin",
        layers=[
            {"members": ["low"], "start": "2026-01-01T00:00", "shift": "1d"},
            {
                "members": ["high"],
                "start": "2026-01-01T00:00",
                "shift": "1d",
                "restrict": ["Sat,Sun 00:00-24:00"],
            },
        ],
    )
    saturday = on_call_at(plan, at=local("Europe/Berlin", 2026, 3, 7, 12))
    monday = on_call_at(plan, at=local("Europe/Berlin", 2026, 3, 9, 12))
    assert saturday is not None and (saturday.person_id, saturday.layer) == ("high", "2")
    assert monday is not None and (monday.person_id, monday.layer) == ("low", "1")


def test_example_rotation_hands_over_nights_to_the_follow_the_sun_layer() -> None:
    shifts = compute_shifts(
        growth_plan(), start=local(NY, 2026, 3, 9, 10), end=local(NY, 2026, 3, 10, 10)
    )
    assert [(s.person_id, s.layer, s.start, s.end) for s in shifts] == [
        ("emily", "weekly", local(NY, 2026, 3, 9, 10), local(NY, 2026, 3, 9, 20)),
        ("taka", "follow-the-sun", local(NY, 2026, 3, 9, 20), local(NY, 2026, 3, 10, 4)),
        ("emily", "weekly", local(NY, 2026, 3, 10, 4), local(NY, 2026, 3, 10, 10)),
    ]
    assert all(s.shift_start == local(NY, 2026, 3, 9, 10) for s in shifts if s.layer == "weekly")


def test_nobody_is_on_call_before_a_layer_starts_and_gaps_are_found() -> None:
    plan = plan_rotation(
        rotation_id="r",
        timezone=NY,
        layers=[
            {
                "members": ["a"],
                "start": "2026-03-02T09:00",
                "shift": "1d",
                "restrict": ["Mon-Fri 09:00-17:00"],
            }
        ],
    )
    assert who(plan, local(NY, 2026, 3, 2, 8, 59)) is None
    holes = gaps(plan, start=local(NY, 2026, 3, 2, 0), end=local(NY, 2026, 3, 4, 0))
    assert holes == [
        (local(NY, 2026, 3, 2, 0), local(NY, 2026, 3, 2, 9)),
        (local(NY, 2026, 3, 2, 17), local(NY, 2026, 3, 3, 9)),
        (local(NY, 2026, 3, 3, 17), local(NY, 2026, 3, 4, 0)),
    ]


# --- overrides -------------------------------------------------------------------------------


def test_override_wins_over_layers_and_a_later_override_wins_over_an_earlier_one() -> None:
    plan = growth_plan()
    overrides = [
        OverrideSpan(1, "ana", local(NY, 2026, 3, 9, 0), local(NY, 2026, 3, 12, 0)),
        OverrideSpan(2, "ben", local(NY, 2026, 3, 10, 0), local(NY, 2026, 3, 11, 0)),
    ]
    assert who(plan, local(NY, 2026, 3, 9, 23), overrides) == "ana"  # beats taka's night
    assert who(plan, local(NY, 2026, 3, 10, 12), overrides) == "ben"
    assert who(plan, local(NY, 2026, 3, 11, 12), overrides) == "ana"
    assert who(plan, local(NY, 2026, 3, 12, 12), overrides) == "emily"
    shifts = compute_shifts(
        plan, start=local(NY, 2026, 3, 9, 0), end=local(NY, 2026, 3, 12, 0), overrides=overrides
    )
    assert [(s.person_id, s.override_id) for s in shifts] == [("ana", 1), ("ben", 2), ("ana", 1)]


def test_override_index_answers_by_bisection_for_many_overrides() -> None:
    start = utc(2026, 1, 1)
    overrides = [
        OverrideSpan(i, f"p{i}", start + timedelta(hours=2 * i), start + timedelta(hours=2 * i + 1))
        for i in range(1, 1001)
    ]
    index = OverrideIndex("r", overrides)
    hit = index.at(start + timedelta(hours=1000, minutes=30))
    assert hit is not None and hit.person_id == "p500"
    assert index.at(start + timedelta(hours=1001, minutes=30)) is None
    assert [s.person_id for s in index.between(start, start + timedelta(hours=5))] == ["p1", "p2"]


# --- properties ------------------------------------------------------------------------------

SHIFTS = ("1h", "2h", "3h", "4h", "6h", "8h", "12h", "1d", "2d", "1w", "2w")
# Windows of interest: each zone's 2026 DST changes (Kolkata has none).
CHANGES = (
    datetime(2026, 3, 8, tzinfo=UTC),
    datetime(2026, 11, 1, tzinfo=UTC),
    datetime(2026, 3, 29, tzinfo=UTC),
    datetime(2026, 10, 25, tzinfo=UTC),
    datetime(2026, 4, 5, tzinfo=UTC),
    datetime(2026, 10, 4, tzinfo=UTC),
    datetime(2026, 6, 15, tzinfo=UTC),
)
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@st.composite
def windows(draw: st.DrawFn) -> str:
    days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True))
    a = draw(st.integers(0, 95)) * 15
    b = draw(st.integers(0, 96)) * 15
    return f"{','.join(days)} {a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}"


@st.composite
def rotations(draw: st.DrawFn) -> tuple[RotationPlan, datetime, datetime, list[OverrideSpan]]:
    zone = draw(st.sampled_from(ZONES))
    around = draw(st.sampled_from(CHANGES))
    begin = around - timedelta(days=draw(st.integers(0, 3)), minutes=draw(st.integers(0, 1439)))
    end = begin + timedelta(hours=draw(st.integers(1, 24 * 6)))
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        shift = draw(st.sampled_from(SHIFTS))
        # Start close enough before the window that the oracle's linear walk stays short.
        days_back = draw(st.integers(0, 10 if shift.endswith("h") else 60))
        start = (begin - timedelta(days=days_back)).astimezone(UTC).replace(tzinfo=None)
        start = start.replace(
            hour=draw(st.integers(0, 23)),
            minute=draw(st.sampled_from([0, 15, 30, 45])),
            second=0,
            microsecond=0,
        )
        layers.append(
            {
                "members": draw(st.lists(st.sampled_from("abcde"), min_size=1, max_size=4)),
                "start": start.isoformat(),
                "shift": shift,
                "restrict": draw(st.lists(windows(), max_size=2)),
            }
        )
    overrides = [
        OverrideSpan(
            i + 1,
            draw(st.sampled_from(("x", "y", "z"))),
            o_start := begin + timedelta(minutes=draw(st.integers(-600, 60 * 24 * 6))),
            o_start + timedelta(minutes=draw(st.integers(1, 60 * 30))),
        )
        for i in range(draw(st.integers(0, 4)))
    ]
    plan = plan_rotation(rotation_id="r", timezone=zone, layers=layers)
    return plan, begin, end, overrides


def _probes(
    shifts: list[Shift], begin: datetime, end: datetime, extra: list[datetime]
) -> list[datetime]:
    points = {begin, end - timedelta(seconds=1)} | set(extra)
    for s in shifts:
        points |= {s.start, s.end - timedelta(seconds=1), s.start + (s.end - s.start) / 2}
    return sorted(p for p in points if begin <= p < end)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rotations(), st.lists(st.floats(0, 1), max_size=6))
def test_shift_list_who_and_oracle_agree_at_every_instant(
    case: tuple[RotationPlan, datetime, datetime, list[OverrideSpan]], fractions: list[float]
) -> None:
    plan, begin, end, overrides = case
    shifts = compute_shifts(plan, start=begin, end=end, overrides=overrides)
    # A partition: in order, inside the range, never overlapping, never empty.
    for a, b in pairwise(shifts):
        assert a.end <= b.start
    assert all(begin <= s.start < s.end <= end for s in shifts)
    extra = [begin + (end - begin) * f for f in fractions]
    extra += [o.start for o in overrides] + [o.end for o in overrides]
    for at in _probes(shifts, begin, end, extra):
        listed = [s for s in shifts if s.contains(at)]
        assert len(listed) <= 1  # never two people at once
        answer = on_call_at(plan, at=at, overrides=overrides)
        expected = oracle_who(plan, at, overrides)
        got = (answer.person_id, answer.layer) if answer else None
        assert got == expected, at
        if answer is None:
            assert not listed
            continue
        assert listed, at  # covered by some layer or override: exactly one person
        (piece,) = listed
        assert piece.identity == answer.identity
        # `who` gives the whole final shift; the list cuts it at the range edges only.
        assert piece.start == max(answer.start, begin) and piece.end == min(answer.end, end)
        if answer.source == "override":
            covering = [o for o in overrides if o.start <= at < o.end]
            assert answer.override_id == max(o.id for o in covering)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rotations(), st.randoms(use_true_random=False))
def test_remembered_layer_answers_agree_with_the_oracle_in_any_order(
    case: tuple[RotationPlan, datetime, datetime, list[OverrideSpan]], rng: random.Random
) -> None:
    plan, begin, end, _ = case
    shifts = compute_shifts(plan, start=begin, end=end)
    probes = _probes(shifts, begin, end, [s.end for s in shifts])
    rng.shuffle(probes)
    for at in probes + probes[::-1]:  # the second pass answers from what the plan remembers
        answer = layers_on_call(plan, at)
        expected = oracle_who(plan, at, [])
        assert ((answer.person_id, answer.layer) if answer else None) == expected, at


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 200), st.integers(1, 50), st.sampled_from("xyz")),
        min_size=1,
        max_size=12,
    ),
    st.integers(0, 260),
)
def test_overrides_always_win_and_the_latest_covering_one_decides(
    raw: list[tuple[int, int, str]], probe: int
) -> None:
    plan = growth_plan()
    base = utc(2026, 3, 9)
    overrides = [
        OverrideSpan(i + 1, person, base + timedelta(hours=a), base + timedelta(hours=a + n))
        for i, (a, n, person) in enumerate(raw)
    ]
    at = base + timedelta(hours=probe, minutes=30)
    covering = [o for o in overrides if o.start <= at < o.end]
    answer = on_call_at(plan, at=at, overrides=overrides)
    assert answer is not None  # the weekly layer covers everything from its start
    if covering:
        latest = max(covering, key=lambda o: o.id)
        assert (answer.person_id, answer.source, answer.override_id) == (
            latest.person_id,
            "override",
            latest.id,
        )
    else:
        assert answer.source == "layer"


def test_plan_rejects_bad_layers_with_the_bad_value_named() -> None:
    with pytest.raises(ValueError, match="Mars/Base"):
        plan_rotation(rotation_id="r", timezone="Mars/Base", layers=[])
    with pytest.raises(ValueError, match="5h"):
        plan_rotation(
            rotation_id="r",
            timezone=NY,
            layers=[{"members": ["a"], "start": "2026-01-01T00:00", "shift": "5h"}],
        )
