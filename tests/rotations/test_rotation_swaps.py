"""Swaps: requested, accepted, declined; they survive catalog edits and are reported, not
dropped, when an edit leaves them without a shift."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from rotation_helpers import EXAMPLE_CATALOG, T0, local
from sqlalchemy.engine import Engine
from sqlmodel import Session

from oncall.catalog.loader import parse_catalog_text
from oncall.catalog.service import apply_catalog
from oncall.errors import InvalidRequest, NotAllowed
from oncall.rotations import catalog_checks, queries, swaps
from oncall.rotations.models import SwapStatus

NY = "America/New_York"
R = "growth-primary"
# Emily's next week on the weekly layer: Monday 2026-03-09 10:00 New York (after DST began).
EMILY_WEEK = local(NY, 2026, 3, 9, 10)
IN_EMILY_WEEK = local(NY, 2026, 3, 11, 12)


def _request(session: Session, **kwargs: object) -> int:
    values: dict[str, object] = {
        "rotation_id": R,
        "layer": "weekly",
        "shift_start": EMILY_WEEK,
        "from_person_id": "emily",
        "to_person_id": "ryan",
        "now": T0,
    }
    values.update(kwargs)
    swap = swaps.request_swap(session=session, **values)  # type: ignore[arg-type]
    session.commit()
    return swap.id or 0


def _who(session: Session, at: datetime) -> tuple[str, str] | None:
    shift = queries.who_is_on_call(session=session, rotation_id=R, at=at)
    return (shift.person_id, shift.source) if shift else None


def _edit(engine: Engine, old: str, new: str) -> None:
    text = EXAMPLE_CATALOG.read_text()
    assert old in text
    with Session(engine) as s:
        apply_catalog(
            session=s, spec=parse_catalog_text(text.replace(old, new), source="x"), now=T0
        )
        s.commit()


def test_only_an_accepted_swap_hands_the_shift_over(catalog: Engine, session: Session) -> None:
    swap_id = _request(session)
    assert _who(session, IN_EMILY_WEEK) == ("emily", "layer")
    swaps.accept_swap(session=session, swap_id=swap_id, now=T0, by="ryan")
    session.commit()
    assert _who(session, IN_EMILY_WEEK) == ("ryan", "swap")
    # The follow-the-sun nights above it are untouched: the swap is of the weekly shift only.
    assert _who(session, local(NY, 2026, 3, 11, 23)) == ("taka", "layer")
    # The whole week, and nothing else, moved.
    assert _who(session, EMILY_WEEK - timedelta(minutes=1)) == ("taka", "layer")
    assert _who(session, EMILY_WEEK + timedelta(days=7)) == ("ryan", "layer")


def test_declined_and_cancelled_swaps_change_nothing(catalog: Engine, session: Session) -> None:
    first = _request(session)
    swaps.decline_swap(session=session, swap_id=first, now=T0, by="ryan")
    second = _request(session, to_person_id="taka")
    swaps.cancel_swap(session=session, swap_id=second, now=T0, by="emily")
    session.commit()
    assert _who(session, IN_EMILY_WEEK) == ("emily", "layer")
    with pytest.raises(InvalidRequest, match="is declined, not requested"):
        swaps.accept_swap(session=session, swap_id=first, now=T0)


def test_accepting_one_request_cancels_the_others_for_that_shift(
    catalog: Engine, session: Session
) -> None:
    to_ryan = _request(session)
    to_taka = _request(session, to_person_id="taka")
    swaps.accept_swap(session=session, swap_id=to_taka, now=T0, by="taka")
    session.commit()
    listed = {r.swap.id: r for r in swaps.list_swaps(session=session, now=T0, include_past=True)}
    assert listed[to_ryan].swap.status == SwapStatus.cancelled
    assert "superseded by swap" in (listed[to_ryan].swap.note or "")
    assert _who(session, IN_EMILY_WEEK) == ("taka", "swap")


def test_an_exchange_is_two_swaps_and_swaps_chain(catalog: Engine, session: Session) -> None:
    ryan_week = EMILY_WEEK + timedelta(days=7)
    a = _request(session)
    b = _request(session, shift_start=ryan_week, from_person_id="ryan", to_person_id="emily")
    swaps.accept_swap(session=session, swap_id=a, now=T0)
    swaps.accept_swap(session=session, swap_id=b, now=T0)
    session.commit()
    assert _who(session, IN_EMILY_WEEK) == ("ryan", "swap")
    assert _who(session, IN_EMILY_WEEK + timedelta(days=7)) == ("emily", "swap")
    # Ryan now holds Emily's old week and may pass it on.
    c = _request(session, from_person_id="ryan", to_person_id="ana")
    swaps.accept_swap(session=session, swap_id=c, now=T0, by="ana")
    session.commit()
    assert _who(session, IN_EMILY_WEEK) == ("ana", "swap")


def test_a_swap_must_name_a_real_shift_held_by_its_from_person(
    catalog: Engine, session: Session
) -> None:
    with pytest.raises(
        InvalidRequest, match="no shift of layer 'weekly' starts at 2026-03-09 11:00"
    ):
        _request(session, shift_start=EMILY_WEEK + timedelta(hours=1))
    with pytest.raises(InvalidRequest, match="held by 'emily', not 'ryan'"):
        _request(session, from_person_id="ryan", to_person_id="taka")
    with pytest.raises(InvalidRequest, match="has no layer 'daily'"):
        _request(session, layer="daily")
    with pytest.raises(InvalidRequest, match="already ended"):
        _request(session, shift_start=local(NY, 2026, 2, 16, 10))
    with pytest.raises(InvalidRequest, match="two different people"):
        _request(session, to_person_id="emily")


def test_only_the_asked_person_or_a_lead_may_accept(catalog: Engine, session: Session) -> None:
    swap_id = _request(session, by="emily")
    with pytest.raises(NotAllowed, match="'taka' may not accept"):
        swaps.accept_swap(session=session, swap_id=swap_id, now=T0, by="taka")
    with pytest.raises(NotAllowed):
        _request(session, by="ryan")  # nobody gives away Emily's week but Emily or a lead
    swaps.accept_swap(session=session, swap_id=swap_id, now=T0, by="emily")  # the lead


def test_a_swap_survives_a_catalog_edit_that_leaves_its_shift_alone(
    catalog: Engine, session: Session
) -> None:
    swaps.accept_swap(session=session, swap_id=_request(session), now=T0)
    session.commit()
    _edit(catalog, 'restrict: ["Mon-Fri 20:00-04:00"]', 'restrict: ["Mon-Fri 21:00-05:00"]')
    session.expire_all()
    assert _who(session, IN_EMILY_WEEK) == ("ryan", "swap")
    assert _who(session, local(NY, 2026, 3, 11, 20, 30)) == ("ryan", "swap")  # night starts later
    assert swaps.stale_swaps(session=session, now=T0) == []


def test_a_swap_whose_shift_moved_is_reported_and_does_not_move_with_it(
    catalog: Engine, session: Session
) -> None:
    swap_id = _request(session)
    swaps.accept_swap(session=session, swap_id=swap_id, now=T0)
    session.commit()
    _edit(catalog, "start: 2026-01-05T10:00", "start: 2026-01-05T09:00")
    session.expire_all()
    # The new week starts at 09:00: the swap does not silently slide onto it...
    assert _who(session, IN_EMILY_WEEK) == ("emily", "layer")
    # ...and it is reported, with the reason.
    (stale,) = swaps.stale_swaps(session=session, now=T0)
    assert stale.swap.id == swap_id
    assert "no shift of layer 'weekly' starts at 2026-03-09 10:00" in (stale.problem or "")
    assert "nearest starts at 2026-03-09 09:00" in (stale.problem or "")
    (listed,) = swaps.list_swaps(session=session, now=T0)
    assert listed.to_dict()["applies"] is False


def test_a_swap_whose_from_person_no_longer_holds_the_shift_is_reported(
    catalog: Engine, session: Session
) -> None:
    swaps.accept_swap(session=session, swap_id=_request(session), now=T0)
    session.commit()
    # A fourth member changes the cycle: the week of 2026-03-09 becomes Ryan's by the layer.
    _edit(catalog, "members: [emily, ryan, taka]", "members: [emily, ryan, taka, ana]")
    session.expire_all()
    (stale,) = swaps.stale_swaps(session=session, now=T0)
    assert "held by 'ryan', not 'emily'" in (stale.problem or "")
    assert _who(session, IN_EMILY_WEEK) == ("ryan", "layer")


def test_catalog_warnings_report_gaps_and_swaps_an_edited_file_would_break(
    catalog: Engine, session: Session
) -> None:
    swaps.accept_swap(session=session, swap_id=_request(session), now=T0)
    session.commit()
    # The weekly layer loses its weekends and moves its hand-off to 11:00.
    text = (
        EXAMPLE_CATALOG.read_text()
        .replace("shift: 1w ", 'shift: 1w\n        restrict: ["Mon-Fri 00:00-24:00"]\n        #')
        .replace("start: 2026-01-05T10:00", "start: 2026-01-05T11:00")
    )
    spec = parse_catalog_text(text, source="edited.yaml")
    warnings = catalog_checks.catalog_warnings(
        spec=spec, source="edited.yaml", now=T0, session=session
    )
    gap = next(w for w in warnings if w.startswith("rotation 'growth-primary'"))
    # Weekends are uncovered from Saturday 04:00 (Friday night stays with follow-the-sun).
    assert "nobody is on call for" in gap and "in the next 90 days" in gap
    assert "the first from Sat 2026-03-07 04:00 to Mon 2026-03-09 00:00" in gap
    swap_warning = next(w for w in warnings if w.startswith("swap "))
    assert (
        "no longer applies with edited.yaml: no shift of layer 'weekly' starts at 2026-03-09 10:00"
        in swap_warning
    )
    assert (
        catalog_checks.catalog_warnings(
            spec=parse_catalog_text(EXAMPLE_CATALOG.read_text(), source="x"),
            source="x",
            now=T0,
            session=session,
        )
        == []
    )


def test_a_swap_of_a_layer_without_a_name_uses_its_position(
    catalog: Engine, session: Session
) -> None:
    start = local("Europe/Berlin", 2026, 3, 5, 9)
    holder = queries.who_is_on_call(session=session, rotation_id="platform-primary", at=start)
    assert holder is not None and holder.layer == "1"
    other = "ben" if holder.person_id == "ana" else "ana"
    swap_id = _request(
        session,
        rotation_id="platform-primary",
        layer="1",
        shift_start=start,
        from_person_id=holder.person_id,
        to_person_id=other,
    )
    swaps.accept_swap(session=session, swap_id=swap_id, now=T0)
    session.commit()
    after = queries.who_is_on_call(session=session, rotation_id="platform-primary", at=start)
    assert after is not None and after.person_id == other
