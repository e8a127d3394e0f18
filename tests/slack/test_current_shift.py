"""`current_shift` (the fast answer of `/oncall who`) is `who_is_on_call` at every instant,
with overrides and swaps around, in gaps and on a retired rotation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session

from oncall.catalog.models import Rotation
from oncall.rotations.overrides import add_override
from oncall.rotations.queries import current_shift, who_is_on_call
from oncall.rotations.swaps import accept_swap, request_swap

T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
MONDAY = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # the weekly hand-off after T0


def test_current_shift_agrees_with_who_is_on_call_around_overrides_and_swaps(
    catalog: Engine,
) -> None:
    with Session(catalog) as s:
        add_override(
            session=s,
            rotation_id="growth-primary",
            person_id="ryan",
            start=T0 + timedelta(hours=30),
            end=T0 + timedelta(hours=34),
            now=T0,
        )
        add_override(
            session=s,
            rotation_id="platform-primary",
            person_id="ben",
            start=T0 + timedelta(days=2),
            end=T0 + timedelta(days=2, hours=3),
            now=T0,
        )
        swap = request_swap(
            session=s,
            rotation_id="growth-primary",
            layer="weekly",
            shift_start=MONDAY,
            from_person_id="emily",
            to_person_id="taka",
            now=T0,
            by="emily",
        )
        accept_swap(session=s, swap_id=swap.id or 0, now=T0, by="taka")
        s.commit()

    @settings(max_examples=300, deadline=None)
    @given(st.integers(min_value=-3 * 24 * 60, max_value=16 * 24 * 60))
    def agree(minutes: int) -> None:
        at = T0 + timedelta(minutes=minutes)
        with Session(catalog) as s:
            for rotation in ("growth-primary", "platform-primary"):
                assert current_shift(session=s, rotation_id=rotation, at=at) == who_is_on_call(
                    session=s, rotation_id=rotation, at=at
                )

    agree()


def test_a_retired_rotation_has_nobody_on_call_from_its_retirement(catalog: Engine) -> None:
    with Session(catalog) as s:
        rotation = s.get(Rotation, "platform-primary")
        assert rotation is not None
        rotation.retired_at = T0 + timedelta(hours=2)
        s.add(rotation)
        s.commit()
        for hours in (0, 1, 2, 3, 48):
            at = T0 + timedelta(hours=hours)
            assert current_shift(session=s, rotation_id="platform-primary", at=at) == (
                who_is_on_call(session=s, rotation_id="platform-primary", at=at)
            )
        assert (
            current_shift(session=s, rotation_id="platform-primary", at=T0 + timedelta(hours=3))
            is None
        )
