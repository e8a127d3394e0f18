"""`oncall who`, `schedule`, `override`, `swap`: rotations from the command line.

Times given without a UTC offset are UTC, except `swap request --start`, which names a shift
the way `oncall schedule` shows it: in the rotation's time zone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import typer

from oncall.commands import common

if TYPE_CHECKING:
    from sqlmodel import Session

    from oncall.rotations.models import Override
    from oncall.rotations.schedule import Shift

override_app = typer.Typer(
    help="Overrides: someone covers a rotation for a time range.", no_args_is_help=True
)
swap_app = typer.Typer(help="Swaps: hand a shift to someone else.", no_args_is_help=True)

JsonOption = common.JsonOption
ByOption = typer.Option("cli", "--by", help="Person id acting (recorded); `cli` by default.")


def register(app: typer.Typer) -> None:
    app.command()(who)
    app.command()(schedule)
    app.add_typer(override_app, name="override")
    app.add_typer(swap_app, name="swap")


def _local(instant: datetime, timezone: str) -> str:
    from zoneinfo import ZoneInfo

    return instant.astimezone(ZoneInfo(timezone)).strftime("%a %Y-%m-%d %H:%M %Z")


def _names(session: Session, ids: set[str]) -> dict[str, str]:
    from sqlmodel import col, select

    from oncall.catalog.models import Person

    if not ids:
        return {}
    return {p.id: p.name for p in session.exec(select(Person).where(col(Person.id).in_(ids)))}


def _shift_json(shift: Shift, names: dict[str, str]) -> dict[str, Any]:
    return shift.to_dict() | {"person_name": names.get(shift.person_id)}


def _how(shift: Shift) -> str:
    if shift.source == "override":
        return f"override {shift.override_id}"
    if shift.source == "swap":
        return f"layer {shift.layer}, swap {shift.swap_id}"
    return f"layer {shift.layer}"


# --- who and schedule ------------------------------------------------------------------------


def who(
    rotation: str | None = typer.Option(
        None, "--rotation", "-r", help="Rotation id (default: all)."
    ),
    at: str | None = typer.Option(None, "--at", help="ISO 8601 time; UTC without offset."),
    as_json: bool = JsonOption,
) -> None:
    """Who is on call now (or --at a time)."""
    from oncall.catalog.service import get_rotation
    from oncall.rotations import queries

    when = common.parse_when(at, field="--at")
    with common.session() as session:
        if rotation is not None:
            row = get_rotation(session=session, rotation_id=rotation)
            pairs = [(row, queries.who_is_on_call(session=session, rotation_id=row.id, at=when))]
        else:
            pairs = queries.who_is_on_call_everywhere(session=session, at=when)
        names = _names(session, {s.person_id for _, s in pairs if s})
    if as_json:
        common.emit_json(
            {
                "at": when.isoformat(),
                "oncall": [
                    {"rotation_id": r.id, "shift": _shift_json(s, names) if s else None}
                    for r, s in pairs
                ],
            }
        )
        return
    if not pairs:
        typer.echo("no rotations: load a catalog with `oncall config apply oncall.yaml`")
    for r, s in pairs:
        if s is None:
            typer.echo(f"{r.id}: nobody on call")
        else:
            typer.echo(
                f"{r.id}: {names.get(s.person_id, s.person_id)} ({s.person_id}), {_how(s)}, "
                f"until {_local(s.end, r.timezone)}"
            )


def schedule(
    rotation: str = typer.Argument(..., help="Rotation id."),
    days: int = typer.Option(14, "--days", min=1, max=366, help="How many days to show."),
    start: str | None = typer.Option(None, "--from", help="ISO 8601 start (default: now)."),
    fairness: bool = typer.Option(
        False, "--fairness", help="Hours, weekend and night hours per person instead."
    ),
    as_json: bool = JsonOption,
) -> None:
    """The final shifts of a rotation for the next N days (or their load with --fairness)."""
    from oncall.catalog.service import get_rotation
    from oncall.rotations import queries

    begin = common.parse_when(start, field="--from")
    end = begin + timedelta(days=days)
    with common.session() as session:
        row = get_rotation(session=session, rotation_id=rotation)
        if fairness:
            loads = queries.load_report(session=session, rotation_id=rotation, start=begin, end=end)
        else:
            shifts = queries.final_shifts(
                session=session, rotation_id=rotation, start=begin, end=end
            )
            names = _names(session, {s.person_id for s in shifts})
    header = {"rotation_id": rotation, "from": begin.isoformat(), "to": end.isoformat()}
    if fairness:
        if as_json:
            common.emit_json(header | {"people": [load.to_dict() for load in loads]})
            return
        typer.echo(f"{rotation}: load from {_local(begin, row.timezone)} for {days} days")
        typer.echo(f"{'person':<12} {'hours':>8} {'weekend':>8} {'night':>8} {'shifts':>6}  zone")
        for load in loads:
            typer.echo(
                f"{load.person_id:<12} {load.hours:>8.1f} {load.weekend_hours:>8.1f} "
                f"{load.night_hours:>8.1f} {load.shifts:>6}  {load.timezone}"
            )
        return
    if as_json:
        common.emit_json(header | {"shifts": [_shift_json(s, names) for s in shifts]})
        return
    typer.echo(f"{rotation} ({row.timezone}), {days} days from {_local(begin, row.timezone)}")
    if not shifts:
        typer.echo("nobody on call in this period")
    for s in shifts:
        typer.echo(
            f"{_local(s.start, row.timezone)} -> {_local(s.end, row.timezone)}  "
            f"{s.person_id:<10} {_how(s)}"
        )


# --- overrides -------------------------------------------------------------------------------


def _override_line(o: Override) -> str:
    state = ""
    if o.removed_at is not None:
        state = f" [removed {o.removed_at:%Y-%m-%d %H:%M} UTC by {o.removed_by}]"
    note = f" ({o.note})" if o.note else ""
    return (
        f"{o.id:>4}  {o.rotation_id:<18} {o.person_id:<10} "
        f"{o.starts_at:%Y-%m-%d %H:%M} -> {o.ends_at:%Y-%m-%d %H:%M} UTC{note}{state}"
    )


@override_app.command("add")
def override_add(
    rotation: str = typer.Argument(..., help="Rotation id."),
    person: str = typer.Option(..., "--person", help="Who covers."),
    start: str = typer.Option(..., "--from", help="ISO 8601 start; UTC without offset."),
    end: str = typer.Option(..., "--to", help="ISO 8601 end; UTC without offset."),
    note: str | None = typer.Option(None, "--note"),
    by: str = ByOption,
    as_json: bool = JsonOption,
) -> None:
    """PERSON covers ROTATION from --from to --to, whoever the layers give."""
    from oncall.rotations import overrides

    begin = common.parse_when(start, field="--from")
    finish = common.parse_when(end, field="--to")
    with common.session() as session:
        override = overrides.add_override(
            session=session,
            rotation_id=rotation,
            person_id=person,
            start=begin,
            end=finish,
            now=common.now(),
            by=by,
            note=note,
        )
    if as_json:
        common.emit_json(overrides.override_dict(override))
    else:
        typer.echo(
            f"override {override.id}: {person} covers {rotation} from "
            f"{override.starts_at:%Y-%m-%d %H:%M} to {override.ends_at:%Y-%m-%d %H:%M} UTC"
        )


@override_app.command("list")
def override_list(
    rotation: str | None = typer.Option(None, "--rotation", "-r", help="Rotation id."),
    include_past: bool = typer.Option(False, "--all", help="Also ended and removed overrides."),
    as_json: bool = JsonOption,
) -> None:
    """Current and upcoming overrides (all of them with --all)."""
    from oncall.rotations import overrides

    with common.session() as session:
        rows = overrides.list_overrides(
            session=session, now=common.now(), rotation_id=rotation, include_past=include_past
        )
    if as_json:
        common.emit_json([overrides.override_dict(o) for o in rows])
        return
    if not rows:
        typer.echo("no overrides")
    for o in rows:
        typer.echo(_override_line(o))


@override_app.command("remove")
def override_remove(
    override_id: int = typer.Argument(..., help="Override id (see `oncall override list`)."),
    by: str = ByOption,
) -> None:
    """Remove an override (one in progress ends now; one that ended stays as history)."""
    from oncall.rotations import overrides

    with common.session() as session:
        override = overrides.remove_override(
            session=session, override_id=override_id, now=common.now(), by=by
        )
    typer.echo(f"override {override.id} removed")


# --- swaps -----------------------------------------------------------------------------------


@swap_app.command("request")
def swap_request(
    rotation: str = typer.Argument(..., help="Rotation id."),
    layer: str = typer.Option(..., "--layer", help="Layer name (or its position: 1, 2, ...)."),
    start: str = typer.Option(
        ..., "--start", help="Shift start; without offset, in the rotation's time zone."
    ),
    from_person: str = typer.Option(..., "--from", help="Who holds the shift."),
    to_person: str = typer.Option(..., "--to", help="Who is asked to take it."),
    note: str | None = typer.Option(None, "--note"),
    by: str = ByOption,
    as_json: bool = JsonOption,
) -> None:
    """Ask someone to take one shift; it applies once they accept."""
    from zoneinfo import ZoneInfo

    from oncall.catalog.service import get_rotation
    from oncall.rotations import swaps
    from oncall.rotations.wallclock import local_to_utc

    with common.session() as session:
        row = get_rotation(session=session, rotation_id=rotation)
        try:
            parsed = datetime.fromisoformat(start)
        except ValueError:
            common.fail(f"--start: {start!r} is not an ISO 8601 time (e.g. 2026-03-09T10:00)")
        if parsed.tzinfo is None:
            parsed = local_to_utc(parsed, ZoneInfo(row.timezone))
        swap = swaps.request_swap(
            session=session,
            rotation_id=rotation,
            layer=layer,
            shift_start=parsed,
            from_person_id=from_person,
            to_person_id=to_person,
            now=common.now(),
            by=by,
            note=note,
        )
        report = swaps.SwapReport(swap, None)
        text = swaps.describe_swap(swap, row.timezone)
    if as_json:
        common.emit_json(report.to_dict())
    else:
        typer.echo(f"requested {text}; `oncall swap accept {swap.id}` to take it")


def _decide(action: str, swap_id: int, by: str) -> None:
    from oncall.rotations import swaps

    functions = {
        "accept": swaps.accept_swap,
        "decline": swaps.decline_swap,
        "cancel": swaps.cancel_swap,
    }
    from oncall.catalog.service import get_rotation

    with common.session() as session:
        swap = functions[action](session=session, swap_id=swap_id, now=common.now(), by=by)
        zone = get_rotation(session=session, rotation_id=swap.rotation_id).timezone
        text = swaps.describe_swap(swap, zone)
    typer.echo(text)


@swap_app.command("accept")
def swap_accept(swap_id: int = typer.Argument(..., help="Swap id."), by: str = ByOption) -> None:
    """Take the shift: from now on it is yours."""
    _decide("accept", swap_id, by)


@swap_app.command("decline")
def swap_decline(swap_id: int = typer.Argument(..., help="Swap id."), by: str = ByOption) -> None:
    """Say no; the shift stays with whoever holds it."""
    _decide("decline", swap_id, by)


@swap_app.command("cancel")
def swap_cancel(swap_id: int = typer.Argument(..., help="Swap id."), by: str = ByOption) -> None:
    """Withdraw a request nobody has answered yet."""
    _decide("cancel", swap_id, by)


@swap_app.command("list")
def swap_list(
    rotation: str | None = typer.Option(None, "--rotation", "-r", help="Rotation id."),
    include_past: bool = typer.Option(False, "--all", help="Also past, declined, cancelled."),
    as_json: bool = JsonOption,
) -> None:
    """Open and accepted swaps; those that no longer fit the rotation say why."""
    from oncall.catalog.service import list_rotations
    from oncall.rotations import swaps

    with common.session() as session:
        reports = swaps.list_swaps(
            session=session, now=common.now(), rotation_id=rotation, include_past=include_past
        )
        zones = {r.id: r.timezone for r in list_rotations(session=session, include_retired=True)}
    if as_json:
        common.emit_json([r.to_dict() for r in reports])
        return
    if not reports:
        typer.echo("no swaps")
    for report in reports:
        line = swaps.describe_swap(report.swap, zones.get(report.swap.rotation_id))
        if report.problem:
            line += f"\n      NO LONGER APPLIES: {report.problem}"
        typer.echo(line)
