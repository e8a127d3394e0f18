"""Overrides in the database: who is on call, history, removal, permissions, and `who`
agreeing with the shift list when there are many of them."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from rotation_helpers import T0, local
from sqlalchemy.engine import Engine
from sqlmodel import Session

from oncall.catalog.models import Rotation
from oncall.catalog.service import UnknownEntity
from oncall.errors import InvalidRequest, NotAllowed
from oncall.rotations import overrides, queries

NY = "America/New_York"
R = "growth-primary"


def _who(session: Session, at: object) -> str | None:
    shift = queries.who_is_on_call(session=session, rotation_id=R, at=at)  # type: ignore[arg-type]
    return shift.person_id if shift else None


def test_override_puts_its_person_on_call_and_ends_when_it_ends(
    catalog: Engine, session: Session
) -> None:
    start, end = local(NY, 2026, 3, 4, 9), local(NY, 2026, 3, 4, 17)
    assert _who(session, start) == "taka"
    override = overrides.add_override(
        session=session, rotation_id=R, person_id="ana", start=start, end=end, now=T0, note="x"
    )
    session.commit()
    shift = queries.who_is_on_call(session=session, rotation_id=R, at=start + timedelta(hours=1))
    assert shift is not None
    assert (shift.person_id, shift.layer, shift.source, shift.override_id) == (
        "ana",
        "override",
        "override",
        override.id,
    )
    assert (shift.start, shift.end) == (start, end)
    assert _who(session, end) == "taka"


def test_ended_overrides_are_kept_as_history_and_listed_with_all(
    catalog: Engine, session: Session
) -> None:
    past = overrides.add_override(
        session=session,
        rotation_id=R,
        person_id="ryan",
        start=T0 - timedelta(days=3),
        end=T0 - timedelta(days=2),
        now=T0,
    )
    upcoming = overrides.add_override(
        session=session,
        rotation_id=R,
        person_id="ana",
        start=T0 + timedelta(days=1),
        end=T0 + timedelta(days=2),
        now=T0,
    )
    session.commit()
    current = overrides.list_overrides(session=session, now=T0, rotation_id=R)
    everything = overrides.list_overrides(session=session, now=T0, rotation_id=R, include_past=True)
    assert [o.id for o in current] == [upcoming.id]
    assert [o.id for o in everything] == [past.id, upcoming.id]
    assert _who(session, T0 - timedelta(days=2, hours=12)) == "ryan"  # history still answers
    with pytest.raises(InvalidRequest, match="kept as history"):
        overrides.remove_override(session=session, override_id=past.id or 0, now=T0)


def test_removing_an_override_in_progress_cuts_it_short_and_keeps_its_past(
    catalog: Engine, session: Session
) -> None:
    running = overrides.add_override(
        session=session,
        rotation_id=R,
        person_id="ana",
        start=T0 - timedelta(hours=2),
        end=T0 + timedelta(hours=2),
        now=T0,
    )
    later = overrides.add_override(
        session=session,
        rotation_id=R,
        person_id="ben",
        start=T0 + timedelta(days=1),
        end=T0 + timedelta(days=2),
        now=T0,
    )
    overrides.remove_override(session=session, override_id=running.id or 0, now=T0, by="emily")
    overrides.remove_override(session=session, override_id=later.id or 0, now=T0)
    session.commit()
    assert _who(session, T0 - timedelta(hours=1)) == "ana"
    assert _who(session, T0 + timedelta(hours=1)) == "taka"
    assert _who(session, T0 + timedelta(days=1, hours=1)) == "taka"
    assert overrides.list_overrides(session=session, now=T0) == []
    removed = overrides.list_overrides(session=session, now=T0, include_past=True)
    assert {(o.id, o.removed_by) for o in removed} == {(running.id, "emily"), (later.id, "api")}


def test_bad_overrides_are_refused_naming_the_bad_value(catalog: Engine, session: Session) -> None:
    a, b = T0, T0 + timedelta(hours=1)
    with pytest.raises(InvalidRequest, match=r"ends .* before it starts"):
        overrides.add_override(
            session=session, rotation_id=R, person_id="ana", start=b, end=a, now=T0
        )
    with pytest.raises(UnknownEntity, match="unknown rotation 'nope'"):
        overrides.add_override(
            session=session, rotation_id="nope", person_id="ana", start=a, end=b, now=T0
        )
    with pytest.raises(UnknownEntity, match="unknown person 'zoe'"):
        overrides.add_override(
            session=session, rotation_id=R, person_id="zoe", start=a, end=b, now=T0
        )
    with pytest.raises(InvalidRequest, match="unknown person 'zoe' \\(by\\)"):
        overrides.add_override(
            session=session, rotation_id=R, person_id="ana", start=a, end=b, now=T0, by="zoe"
        )
    with pytest.raises(UnknownEntity, match="unknown override '999'"):
        overrides.remove_override(session=session, override_id=999, now=T0)


def test_people_override_for_themselves_leads_for_anyone(catalog: Engine, session: Session) -> None:
    a, b = T0, T0 + timedelta(hours=1)
    overrides.add_override(
        session=session, rotation_id=R, person_id="ryan", start=a, end=b, now=T0, by="ryan"
    )
    overrides.add_override(
        session=session, rotation_id=R, person_id="ben", start=a, end=b, now=T0, by="emily"
    )
    with pytest.raises(NotAllowed, match="'ben' may not"):
        overrides.add_override(
            session=session, rotation_id=R, person_id="ana", start=a, end=b, now=T0, by="ben"
        )


def test_a_retired_rotation_has_nobody_on_call_after_retirement(
    catalog: Engine, session: Session
) -> None:
    rotation = session.get(Rotation, R)
    assert rotation is not None
    rotation.retired_at = T0
    session.add(rotation)
    session.commit()
    assert _who(session, T0 - timedelta(hours=1)) == "taka"
    assert _who(session, T0 + timedelta(hours=1)) is None
    shifts = queries.final_shifts(
        session=session, rotation_id=R, start=T0 - timedelta(days=1), end=T0 + timedelta(days=1)
    )
    assert max(s.end for s in shifts) == T0
    with pytest.raises(InvalidRequest, match="retired"):
        overrides.add_override(
            session=session, rotation_id=R, person_id="ana", start=T0, end=T0 + timedelta(1), now=T0
        )


def test_who_agrees_with_the_shift_list_with_hundreds_of_overrides(
    catalog: Engine, session: Session
) -> None:
    rng = random.Random(7)
    base = T0 - timedelta(days=10)
    people = ["emily", "ryan", "taka", "ana", "ben"]
    for _ in range(300):
        start = base + timedelta(minutes=rng.randrange(0, 60 * 24 * 20))
        overrides.add_override(
            session=session,
            rotation_id=R,
            person_id=rng.choice(people),
            start=start,
            end=start + timedelta(minutes=rng.randrange(30, 60 * 30)),
            now=T0,
        )
    session.commit()
    end = base + timedelta(days=20)
    shifts = queries.final_shifts(session=session, rotation_id=R, start=base, end=end)
    for _ in range(200):
        at = base + timedelta(seconds=rng.randrange(0, 20 * 86400))
        (listed,) = [s for s in shifts if s.contains(at)]
        answer = queries.who_is_on_call(session=session, rotation_id=R, at=at)
        assert answer is not None
        assert answer.identity == listed.identity
        assert (max(answer.start, base), min(answer.end, end)) == (listed.start, listed.end)
