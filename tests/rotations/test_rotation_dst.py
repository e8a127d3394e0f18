"""Hand-offs happen at the configured local wall time on both sides of DST changes, and
times that DST skips or repeats follow one documented rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from rotation_helpers import ZONES, local, utc

from oncall.rotations.schedule import compute_shifts, hand_off, on_call_at, plan_rotation
from oncall.rotations.wallclock import local_to_utc

NY = "America/New_York"


def test_weekly_ten_oclock_new_york_hand_off_stays_at_ten_in_march_and_november() -> None:
    plan = plan_rotation(
        rotation_id="r",
        timezone=NY,
        layers=[{"members": ["a", "b"], "start": "2026-01-05T10:00", "shift": "1w"}],
    )
    layer, tz = plan.layers[0], ZoneInfo(NY)
    handoffs = [hand_off(layer, tz, k) for k in range(0, 52)]
    for instant in handoffs:
        wall = instant.astimezone(tz)
        assert (wall.weekday(), wall.hour, wall.minute) == (0, 10, 0)
    # In UTC the hand-off moves by an hour: 15:00 in winter, 14:00 in summer.
    assert utc(2026, 3, 2, 15) in handoffs and utc(2026, 3, 9, 14) in handoffs
    assert utc(2026, 10, 26, 14) in handoffs and utc(2026, 11, 2, 15) in handoffs
    # The shift that spans the spring change is an hour short, the autumn one an hour long.
    assert utc(2026, 3, 9, 14) - utc(2026, 3, 2, 15) == timedelta(hours=167)
    assert utc(2026, 11, 2, 15) - utc(2026, 10, 26, 14) == timedelta(hours=169)


def test_twelve_hour_layer_hands_off_at_eight_and_twenty_local_every_day() -> None:
    plan = plan_rotation(
        rotation_id="r",
        timezone="Europe/Berlin",
        layers=[{"members": ["day", "night"], "start": "2026-03-20T08:00", "shift": "12h"}],
    )
    shifts = compute_shifts(plan, start=utc(2026, 3, 25), end=utc(2026, 4, 2))
    tz = ZoneInfo("Europe/Berlin")
    for s in shifts[1:]:
        wall = s.start.astimezone(tz)
        assert (wall.hour, wall.minute) == (8 if s.person_id == "day" else 20, 0)


def test_a_hand_off_at_a_skipped_local_time_happens_when_the_clocks_jump() -> None:
    tz = ZoneInfo(NY)
    # 2026-03-08: 02:00 EST jumps to 03:00 EDT; 02:30 never shows, 03:00 EDT is 07:00 UTC.
    assert local_to_utc(datetime(2026, 3, 8, 2, 30), tz) == utc(2026, 3, 8, 7)
    plan = plan_rotation(
        rotation_id="r",
        timezone=NY,
        layers=[{"members": ["a", "b"], "start": "2026-03-01T02:30", "shift": "1d"}],
    )
    shift = on_call_at(plan, at=utc(2026, 3, 8, 12))
    assert shift is not None and shift.start == utc(2026, 3, 8, 7)
    assert shift.end == local(NY, 2026, 3, 9, 2, 30)


def test_a_hand_off_at_a_repeated_local_time_happens_at_its_first_occurrence() -> None:
    tz = ZoneInfo(NY)
    # 2026-11-01: 01:00-02:00 runs twice; 01:30 is first EDT (05:30 UTC), then EST.
    assert local_to_utc(datetime(2026, 11, 1, 1, 30), tz) == utc(2026, 11, 1, 5, 30)


def test_an_hourly_shift_swallowed_by_the_spring_jump_is_skipped_and_the_cycle_holds() -> None:
    plan = plan_rotation(
        rotation_id="r",
        timezone=NY,
        layers=[{"members": ["a", "b", "c"], "start": "2026-03-08T00:00", "shift": "1h"}],
    )
    shifts = compute_shifts(plan, start=utc(2026, 3, 8, 5), end=utc(2026, 3, 8, 9))
    walls = [(s.person_id, s.start.astimezone(ZoneInfo(NY)).strftime("%H:%M")) for s in shifts]
    # 00:00 a, 01:00 b, 02:00 c (does not exist: no shift), 03:00 a, 04:00 b.
    assert walls == [("a", "00:00"), ("b", "01:00"), ("a", "03:00"), ("b", "04:00")]


def test_an_hourly_shift_at_the_repeated_hour_lasts_two_hours() -> None:
    plan = plan_rotation(
        rotation_id="r",
        timezone=NY,
        layers=[{"members": ["a", "b"], "start": "2026-11-01T00:00", "shift": "1h"}],
    )
    shift = on_call_at(plan, at=utc(2026, 11, 1, 6, 30))  # 01:30 EST, the second time round
    assert shift is not None and shift.person_id == "b"
    assert (shift.start, shift.end) == (utc(2026, 11, 1, 5), utc(2026, 11, 1, 7))


def test_kolkata_has_no_dst_and_hands_off_at_the_same_utc_time_all_year() -> None:
    plan = plan_rotation(
        rotation_id="r",
        timezone="Asia/Kolkata",
        layers=[{"members": ["a", "b"], "start": "2026-01-01T09:00", "shift": "1d"}],
    )
    layer = plan.layers[0]
    assert {hand_off(layer, plan.tz, k).time() for k in range(365)} == {
        datetime(2026, 1, 1, 3, 30).time()
    }


def _shown_by_the_clock(naive: datetime, tz: ZoneInfo) -> bool:
    """Whether the wall clock ever shows `naive` (not skipped by a spring-forward jump)."""
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


@settings(max_examples=80, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    shift=st.sampled_from(("1h", "3h", "6h", "8h", "12h", "1d", "2d", "1w", "2w")),
    start_day=st.integers(0, 364),
    hour=st.integers(0, 23),
    minute=st.sampled_from((0, 15, 30, 45)),
)
def test_hand_offs_keep_the_configured_local_time_across_dst_in_every_zone(
    zone: str, shift: str, start_day: int, hour: int, minute: int
) -> None:
    start = datetime(2025, 6, 1, hour, minute) + timedelta(days=start_day)
    plan = plan_rotation(
        rotation_id="r",
        timezone=zone,
        layers=[{"members": ["a"], "start": start.isoformat(), "shift": shift}],
    )
    layer, tz = plan.layers[0], plan.tz
    # Every hand-off over the following year (both DST changes in every zone that has them).
    count = min(int(timedelta(days=400) / layer.shift.nominal), 800)
    step = max(1, int(timedelta(days=400) / layer.shift.nominal) // count)
    previous = None
    for k in range(0, count * step, step):
        wall = layer.start + k * layer.shift.nominal
        instant = hand_off(layer, tz, k)
        assert previous is None or instant >= previous  # hand-offs never run backwards
        previous = instant
        if _shown_by_the_clock(wall, tz):  # repeated times: their first occurrence
            shown = instant.astimezone(tz)
            assert shown.replace(tzinfo=None) == wall
            assert instant == wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
            if shift.endswith("w"):
                assert shown.weekday() == start.weekday()
        else:  # skipped by a jump: at the jump, the first moment the clock is past it
            assert instant.astimezone(tz).replace(tzinfo=None) > wall
            assert (instant - timedelta(seconds=1)).astimezone(tz).replace(tzinfo=None) < wall
