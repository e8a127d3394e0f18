"""`on_call_person`, the lookup every new incident makes: it answers from the layers alone
(remembered on the plan) unless an override or swap touches the instant, and it must always
agree with `who_is_on_call`, including right after an override, a swap or a catalog edit."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from rotation_helpers import EXAMPLE_CATALOG, T0, local
from sqlalchemy.engine import Engine
from sqlmodel import Session

from oncall.catalog.loader import parse_catalog_text
from oncall.catalog.service import UnknownEntity, apply_catalog
from oncall.rotations import overrides, queries, swaps

NY = "America/New_York"
R = "growth-primary"
EMILY_WEEK = local(NY, 2026, 3, 9, 10)  # emily's next week on the weekly layer
IN_EMILY_WEEK = local(NY, 2026, 3, 11, 12)


def _request(session: Session, shift_start: datetime, from_person: str, to_person: str) -> int:
    """A swap of a shift of the weekly layer, requested now (not yet accepted)."""
    swap = swaps.request_swap(
        session=session,
        rotation_id=R,
        layer="weekly",
        shift_start=shift_start,
        from_person_id=from_person,
        to_person_id=to_person,
        now=T0,
    )
    return swap.id or 0


def _both(session: Session, at: datetime) -> tuple[str | None, str | None]:
    shift = queries.who_is_on_call(session=session, rotation_id=R, at=at)
    fast = queries.on_call_person(session=session, rotation_id=R, at=at)
    return fast, shift.person_id if shift else None


def test_assignee_agrees_with_who_at_random_instants_among_overrides_and_swaps(
    catalog: Engine, session: Session
) -> None:
    rng = random.Random(11)
    base = T0 - timedelta(days=5)
    for _ in range(40):
        start = base + timedelta(minutes=rng.randrange(0, 60 * 24 * 20))
        overrides.add_override(
            session=session,
            rotation_id=R,
            person_id=rng.choice(["ana", "ben", "ryan"]),
            start=start,
            end=start + timedelta(minutes=rng.randrange(30, 60 * 20)),
            now=T0,
        )
    swaps.accept_swap(
        session=session, swap_id=_request(session, EMILY_WEEK, "emily", "ryan"), now=T0
    )
    session.commit()
    probes = [base + timedelta(seconds=rng.randrange(0, 20 * 86400)) for _ in range(300)]
    # Edges too: where overrides and the swapped week start and end.
    probes += [EMILY_WEEK, EMILY_WEEK - timedelta(microseconds=1), EMILY_WEEK + timedelta(days=7)]
    answers = [_both(session, at) for at in probes]
    assert all(fast == slow for fast, slow in answers), [
        (at, a) for at, a in zip(probes, answers, strict=True) if a[0] != a[1]
    ]
    assert ("ryan", "ryan") in answers  # the swap and the overrides did show up
    assert len({slow for _, slow in answers}) >= 4


def test_a_new_override_swap_or_catalog_edit_changes_the_next_answer(
    catalog: Engine, session: Session
) -> None:
    assert queries.on_call_person(session=session, rotation_id=R, at=IN_EMILY_WEEK) == "emily"
    # Remembered from the layers now; an override must still win at once.
    override = overrides.add_override(
        session=session,
        rotation_id=R,
        person_id="ana",
        start=IN_EMILY_WEEK - timedelta(hours=1),
        end=IN_EMILY_WEEK + timedelta(hours=1),
        now=T0,
    )
    session.commit()
    assert queries.on_call_person(session=session, rotation_id=R, at=IN_EMILY_WEEK) == "ana"
    overrides.remove_override(
        session=session, override_id=override.id or 0, now=IN_EMILY_WEEK - timedelta(hours=2)
    )
    session.commit()
    assert queries.on_call_person(session=session, rotation_id=R, at=IN_EMILY_WEEK) == "emily"

    swap_id = _request(session, EMILY_WEEK, "emily", "ben")
    session.commit()
    assert queries.on_call_person(session=session, rotation_id=R, at=IN_EMILY_WEEK) == "emily"
    swaps.accept_swap(session=session, swap_id=swap_id, now=T0, by="ben")
    session.commit()
    assert queries.on_call_person(session=session, rotation_id=R, at=IN_EMILY_WEEK) == "ben"

    # A catalog edit is a new plan: the remembered answers of the old one do not carry over.
    night = local(NY, 2026, 3, 11, 22)  # the follow-the-sun night layer covers 20:00-04:00
    assert queries.on_call_person(session=session, rotation_id=R, at=night) == "taka"
    text = EXAMPLE_CATALOG.read_text()
    old = 'restrict: ["Mon-Fri 20:00-04:00"]'
    assert old in text
    apply_catalog(
        session=session,
        spec=parse_catalog_text(text.replace(old, 'restrict: ["Mon-Fri 23:00-04:00"]'), source="x"),
        now=T0,
    )
    session.commit()
    fast, slow = _both(session, night)
    assert fast == slow == "ben"  # the weekly layer shows through now, with its swap


def test_unknown_and_retired_rotations_and_long_shifts(catalog: Engine, session: Session) -> None:
    with pytest.raises(UnknownEntity):
        queries.on_call_person(session=session, rotation_id="no-such-rotation", at=T0)
    assert queries.on_call_person(session=session, rotation_id=None, at=T0) is None

    text = EXAMPLE_CATALOG.read_text()
    # Four-week shifts: longer than the reach of the swap check, so the general path answers.
    longer = text.replace("shift: 1w", "shift: 4w")
    assert longer != text
    apply_catalog(session=session, spec=parse_catalog_text(longer, source="x"), now=T0)
    session.commit()
    # A swap of a four-week shift, agreed for a shift that started weeks before the probes.
    shifts = queries.final_shifts(
        session=session, rotation_id=R, start=T0, end=T0 + timedelta(days=60)
    )
    weekly = next(s for s in shifts if s.layer == "weekly" and s.shift_start > T0)
    to_person = next(p for p in ("ana", "ben", "ryan") if p != weekly.person_id)
    swap_id = _request(session, weekly.shift_start, weekly.person_id, to_person)
    swaps.accept_swap(session=session, swap_id=swap_id, now=T0)
    session.commit()
    probes = [T0 + timedelta(hours=7 * k) for k in range(200)]
    answers = [_both(session, at) for at in probes]
    assert all(fast == slow for fast, slow in answers)
    late_in_swapped_shift = weekly.shift_start + timedelta(days=20, hours=12)
    assert _both(session, late_in_swapped_shift) == (to_person, to_person)

    # Retiring the rotation (it leaves the catalog): nobody is on call from then on.
    without = parse_catalog_text(longer, source="x")
    without = without.model_copy(
        update={
            "rotations": [r for r in without.rotations if r.id != R],
            "models": [m for m in without.models if m.rotation != R],
            "routes": [r for r in without.routes if r.rotation != R],
        }
    )
    retired_at = T0 + timedelta(days=1)
    apply_catalog(session=session, spec=without, now=retired_at)
    session.commit()
    assert queries.on_call_person(session=session, rotation_id=R, at=retired_at) is None
    before = retired_at - timedelta(hours=1)
    assert (
        queries.on_call_person(session=session, rotation_id=R, at=before)
        == _both(session, before)[1]
    )
