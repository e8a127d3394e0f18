"""The small languages of a layer: shift lengths and restrict windows."""

from __future__ import annotations

import pytest

from oncall.rotations.spec import parse_restrict_window, parse_shift_length


def test_restrict_window_crossing_midnight_ends_on_the_next_day() -> None:
    window = parse_restrict_window("Mon-Fri 20:00-04:00")
    assert window.days == frozenset({0, 1, 2, 3, 4})
    assert (window.start_minutes, window.end_minutes) == (20 * 60, 28 * 60)


def test_whole_days_wrapping_ranges_and_full_names_are_understood() -> None:
    assert parse_restrict_window("Sat,Sun 00:00-24:00").end_minutes == 24 * 60
    assert str(parse_restrict_window("Sat,Sun 00:00-24:00")) == "Sat,Sun 00:00-24:00"
    assert parse_restrict_window("Fri-Mon 09:00-17:00").days == frozenset({4, 5, 6, 0})
    assert parse_restrict_window("monday-friday 09:00-17:00").days == frozenset(range(5))
    assert parse_restrict_window("22:00-06:00").days == frozenset(range(7))


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("Mondxx 09:00-17:00", "mondxx"),
        ("Mo-Fr 09:00-17:00", "mo-fr"),
        ("Mon 25:00-26:00", "25:00"),
    ],
)
def test_bad_restrict_windows_name_the_bad_part(text: str, bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        parse_restrict_window(text)


def test_hourly_shifts_must_keep_hand_offs_at_the_same_local_times() -> None:
    assert str(parse_shift_length("12h")) == "12h"
    assert str(parse_shift_length("48h")) == "48h"
    for bad in ("5h", "0d", "1m", "week"):
        with pytest.raises(ValueError, match="bad shift length"):
            parse_shift_length(bad)
