"""Fairness: hours, weekend hours and night hours in each person's own time zone."""

from __future__ import annotations

from rotation_helpers import local, utc

from oncall.rotations.fairness import fairness
from oncall.rotations.schedule import Shift


def _shift(person: str, start: object, end: object, shift_start: object = None) -> Shift:
    return Shift(
        rotation_id="r",
        layer="1",
        person_id=person,
        start=start,  # type: ignore[arg-type]
        end=end,  # type: ignore[arg-type]
        source="layer",
        shift_start=shift_start or start,  # type: ignore[arg-type]
    )


def test_night_and_weekend_are_read_in_the_persons_own_time_zone() -> None:
    # Friday 20:00 to Saturday 04:00 in New York is Saturday 10:00-18:00 in Tokyo.
    start, end = local("America/New_York", 2026, 3, 6, 20), local("America/New_York", 2026, 3, 7, 4)
    loads = fairness(
        [_shift("ny", start, end), _shift("tokyo", start, end)],
        timezones={"ny": "America/New_York", "tokyo": "Asia/Tokyo"},
    )
    by_person = {load.person_id: load for load in loads}
    assert (by_person["ny"].hours, by_person["ny"].night_hours, by_person["ny"].weekend_hours) == (
        8,
        6,  # 22:00-04:00
        4,  # Saturday 00:00-04:00
    )
    assert (by_person["tokyo"].night_hours, by_person["tokyo"].weekend_hours) == (0, 8)


def test_pieces_of_one_shift_count_as_one_shift_and_rows_sort_by_hours() -> None:
    shift_start = utc(2026, 3, 2, 9)
    loads = fairness(
        [
            _shift("a", utc(2026, 3, 2, 9), utc(2026, 3, 2, 17), shift_start),
            _shift("a", utc(2026, 3, 3, 9), utc(2026, 3, 3, 17), shift_start),
            _shift("b", utc(2026, 3, 4, 9), utc(2026, 3, 4, 10)),
        ],
        timezones={},
    )
    assert [(x.person_id, x.hours, x.shifts, x.timezone) for x in loads] == [
        ("a", 16, 1, "UTC"),
        ("b", 1, 1, "UTC"),
    ]
