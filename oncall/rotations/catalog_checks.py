"""What `oncall config check` warns about in a catalog file before it is applied: stretches
of the next 90 days that no layer covers, and stored swaps the file's rotations would break.

The caller passes the database session to check swaps against, or None when there is none.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session

from oncall.catalog.schema import CatalogSpec
from oncall.rotations.schedule import RotationPlan, gaps, plan_rotation
from oncall.rotations.swaps import describe_swap, stale_swaps
from oncall.rotations.wallclock import utc_to_local

GAP_HORIZON = timedelta(days=90)


def plans_from_spec(spec: CatalogSpec) -> dict[str, RotationPlan]:
    """The rotations of a catalog file as plans, as they would be once applied."""
    return {
        r.id: plan_rotation(
            rotation_id=r.id,
            timezone=r.timezone or spec.timezone,
            layers=[
                {
                    "name": layer.name or str(i + 1),
                    "members": list(layer.members),
                    "start": layer.start,
                    "shift": layer.shift,
                    "restrict": list(layer.restrict),
                }
                for i, layer in enumerate(r.layers)
            ],
        )
        for r in spec.rotations
    }


def _gap_warning(plan: RotationPlan, holes: Sequence[tuple[datetime, datetime]]) -> str:
    hours = sum((b - a for a, b in holes), timedelta(0)) / timedelta(hours=1)
    first_a, first_b = holes[0]
    tz = plan.tz
    return (
        f"rotation {plan.rotation_id!r}: nobody is on call for {hours:.4g} h in the next "
        f"{GAP_HORIZON.days} days ({len(holes)} gap{'s' if len(holes) != 1 else ''}); the first "
        f"from {utc_to_local(first_a, tz):%a %Y-%m-%d %H:%M} to "
        f"{utc_to_local(first_b, tz):%a %Y-%m-%d %H:%M} ({plan.timezone})"
    )


def catalog_warnings(
    *, spec: CatalogSpec, source: str, now: datetime, session: Session | None
) -> list[str]:
    """Stretches of the next 90 days that no layer of `spec` covers, and the swaps stored in
    `session`'s database that its rotations would leave without a shift (none without a
    session: a file is checked on its own)."""
    plans = plans_from_spec(spec)
    warnings: list[str] = []
    for plan in plans.values():
        holes = gaps(plan, start=now, end=now + GAP_HORIZON)
        if holes:
            warnings.append(_gap_warning(plan, holes))
    reports = [] if session is None else stale_swaps(session=session, now=now, plans=plans)
    for report in reports:
        known = plans.get(report.swap.rotation_id)
        desc = describe_swap(report.swap, known.timezone if known else None)
        warnings.append(f"{desc} no longer applies with {source}: {report.problem}")
    return warnings
