"""The schedule, computed: layers, restrictions, swaps and overrides to final shifts.

Pure functions on plain data (no database, no clock): the service loads rows and calls these;
benchmarks and property tests call them directly. All instants are timezone-aware UTC.

Wall-clock rules (DESIGN, Decisions → Rotations):
- Hand-off k of a layer is at the local wall time `start + k * shift` in the rotation's time
  zone, so a `1w` layer keeps its weekday and local time across DST changes, and a `12h` layer
  starting 08:00 hands off at 08:00 and 20:00 local every day.
- A local time happens at the first instant the clock shows that time or later: a time that
  occurs twice (autumn) means its first occurrence (zoneinfo `fold=0`); a time that does not
  exist (spring) means the instant the clocks jump (02:30 on a 02:00→03:00 night is 03:00).
  The mapping never runs backwards, so shifts never overlap; a 1h shift swallowed by a jump
  has no length and is skipped (its member's turn is lost, the cycle does not move).
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from oncall.rotations.spec import (
    RestrictWindow,
    ShiftLength,
    parse_restrict_window,
    parse_shift_length,
)
from oncall.rotations.wallclock import local_to_utc, utc_to_local

ShiftSource = Literal["layer", "override", "swap"]
OVERRIDE_LAYER = "override"
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Shift:
    """A stretch of time when one person is on call for a rotation: the final schedule's unit.

    `shift_start` is the start of the layer shift this comes from: with the rotation and the
    layer it identifies the shift (what a swap names). A layer shift cut by a restriction, a
    later layer or an override gives several `Shift`s with the same identity.
    """

    rotation_id: str
    layer: str  # the layer's name, or "override"
    person_id: str
    start: datetime
    end: datetime
    source: ShiftSource
    shift_start: datetime | None = None
    override_id: int | None = None
    swap_id: int | None = None

    @property
    def identity(self) -> tuple[object, ...]:
        return (
            self.layer,
            self.person_id,
            self.source,
            self.shift_start,
            self.override_id,
            self.swap_id,
        )

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def to_dict(self) -> dict[str, Any]:
        return {
            "rotation_id": self.rotation_id,
            "layer": self.layer,
            "person_id": self.person_id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "source": self.source,
            "shift_start": self.shift_start.isoformat() if self.shift_start else None,
            "override_id": self.override_id,
            "swap_id": self.swap_id,
        }


@dataclass(frozen=True, slots=True)
class OverrideSpan:
    """An override as the computation needs it; a higher id is a later override and wins."""

    id: int
    person_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class SwapSpan:
    """An accepted swap: the shift of `layer` starting at `shift_start` goes from one to another."""

    id: int
    layer: str
    shift_start: datetime
    from_person_id: str
    to_person_id: str


@dataclass(frozen=True)
class LayerPlan:
    name: str
    members: tuple[str, ...]
    start: datetime  # naive, the rotation's local wall time of the first hand-off
    shift: ShiftLength
    restrict: tuple[RestrictWindow, ...] = ()


@dataclass(frozen=True)
class RotationPlan:
    """A rotation's layers, parsed once; later layers win where they cover."""

    rotation_id: str
    timezone: str
    layers: tuple[LayerPlan, ...]
    tz: ZoneInfo = field(init=False, repr=False, compare=False)
    # Answers of `layers_on_call`, newest first: they depend on the plan alone (see there).
    _answers: list[Shift] = field(init=False, repr=False, compare=False, default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tz", ZoneInfo(self.timezone))

    def layer(self, name: str) -> tuple[int, LayerPlan] | None:
        for index, layer in enumerate(self.layers):
            if layer.name == name:
                return index, layer
        return None


def plan_rotation(
    *, rotation_id: str, timezone: str, layers: Sequence[Mapping[str, Any]]
) -> RotationPlan:
    """Build a plan from layers as stored (`{name, members, start, shift, restrict}`).

    A layer without a name is named by its position ("1", "2", ...). Raises ValueError naming
    the bad value.
    """
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"rotation {rotation_id!r}: unknown time zone {timezone!r}") from None
    plans: list[LayerPlan] = []
    for index, raw in enumerate(layers):
        name = str(raw.get("name") or index + 1)
        members = tuple(str(m) for m in raw.get("members") or ())
        if not members:
            raise ValueError(f"rotation {rotation_id!r}, layer {name!r}: no members")
        start = raw.get("start")
        if isinstance(start, str):
            start = datetime.fromisoformat(start)
        if not isinstance(start, datetime) or start.tzinfo is not None:
            raise ValueError(
                f"rotation {rotation_id!r}, layer {name!r}: start {raw.get('start')!r} must be "
                "a local date and time such as 2026-01-05T10:00"
            )
        plans.append(
            LayerPlan(
                name=name,
                members=members,
                start=start,
                shift=parse_shift_length(str(raw.get("shift"))),
                restrict=tuple(parse_restrict_window(str(w)) for w in raw.get("restrict") or ()),
            )
        )
    return RotationPlan(rotation_id=rotation_id, timezone=timezone, layers=tuple(plans))


# --- one layer -------------------------------------------------------------------------------


def hand_off(layer: LayerPlan, tz: ZoneInfo, k: int) -> datetime:
    """The instant shift number `k` of the layer starts (k = 0 is the layer's `start`)."""
    return local_to_utc(layer.start + k * layer.shift.nominal, tz)


def shift_index(layer: LayerPlan, tz: ZoneInfo, at: datetime) -> int:
    """The number k of the shift running at `at` (hand_off(k) <= at < hand_off(k+1)); -1 before
    the layer starts. Computed directly, so a rotation that started years ago costs the same."""
    k = (utc_to_local(at, tz) - layer.start) // layer.shift.nominal
    k = max(k, 0)
    # The estimate from local wall time can be off by one around DST changes: settle it.
    while k >= 0 and hand_off(layer, tz, k) > at:
        k -= 1
    if k < 0:
        return -1
    while hand_off(layer, tz, k + 1) <= at:
        k += 1
    return k


def window_intervals(
    layer: LayerPlan, tz: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The layer's restrict windows as merged UTC intervals overlapping [start, end).

    A window belongs to the day it starts: `Mon-Fri 20:00-04:00` runs Friday 20:00 to
    Saturday 04:00 and never starts on Saturday.
    """
    first = utc_to_local(start, tz).date() - timedelta(days=2)  # a window lasts at most a day
    last = utc_to_local(end, tz).date()
    raw: list[tuple[datetime, datetime]] = []
    day = first
    while day <= last:
        midnight = datetime.combine(day, time())
        weekday = day.weekday()
        for window in layer.restrict:
            if weekday in window.days:
                a = local_to_utc(midnight + timedelta(minutes=window.start_minutes), tz)
                b = local_to_utc(midnight + timedelta(minutes=window.end_minutes), tz)
                if a < b and b > start and a < end:
                    raw.append((a, b))
        day += _DAY
    raw.sort()
    merged: list[tuple[datetime, datetime]] = []
    for a, b in raw:
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def swap_index(swaps: Iterable[SwapSpan]) -> dict[tuple[str, datetime], list[SwapSpan]]:
    index: dict[tuple[str, datetime], list[SwapSpan]] = {}
    for swap in swaps:
        index.setdefault((swap.layer, swap.shift_start), []).append(swap)
    return index


def holder(
    layer: LayerPlan,
    k: int,
    shift_start: datetime,
    swaps: Mapping[tuple[str, datetime], Sequence[SwapSpan]],
) -> tuple[str, SwapSpan | None]:
    """Who holds shift k after the accepted swaps, applied in the order given; and the last
    swap that moved it. A swap whose from-person does not hold the shift does nothing."""
    person = layer.members[k % len(layer.members)]
    moved_by: SwapSpan | None = None
    for swap in swaps.get((layer.name, shift_start), ()):
        if swap.from_person_id == person:
            person, moved_by = swap.to_person_id, swap
    return person, moved_by


def _layer_shifts(
    plan: RotationPlan,
    layer: LayerPlan,
    start: datetime,
    end: datetime,
    swaps: Mapping[tuple[str, datetime], Sequence[SwapSpan]],
) -> list[Shift]:
    """The layer's coverage inside [start, end): shifts cut to its restrict windows."""
    tz = plan.tz
    k = max(shift_index(layer, tz, start), 0)
    windows = window_intervals(layer, tz, start, end) if layer.restrict else None
    w = 0
    out: list[Shift] = []
    shift_start = hand_off(layer, tz, k)
    while shift_start < end:
        shift_end = hand_off(layer, tz, k + 1)
        a, b = max(shift_start, start), min(shift_end, end)
        if a < b:  # an empty shift (swallowed by a DST jump) covers nothing
            person, swap = holder(layer, k, shift_start, swaps)
            template = Shift(
                rotation_id=plan.rotation_id,
                layer=layer.name,
                person_id=person,
                start=a,
                end=b,
                source="swap" if swap else "layer",
                shift_start=shift_start,
                swap_id=swap.id if swap else None,
            )
            if windows is None:
                out.append(template)
            else:
                while w < len(windows) and windows[w][1] <= a:
                    w += 1
                j = w
                while j < len(windows) and windows[j][0] < b:
                    wa, wb = max(windows[j][0], a), min(windows[j][1], b)
                    if wa < wb:
                        out.append(replace(template, start=wa, end=wb))
                    j += 1
        k += 1
        shift_start = shift_end
    return out


# --- overrides -------------------------------------------------------------------------------


class OverrideIndex:
    """Overrides flattened into disjoint pieces (a later override wins where they overlap),
    sorted by start: `at` and `between` cost a bisection, not a scan of every override."""

    def __init__(self, rotation_id: str, overrides: Iterable[OverrideSpan]) -> None:
        self.pieces = _flatten(rotation_id, overrides)
        self._starts = [p.start for p in self.pieces]

    def at(self, when: datetime) -> Shift | None:
        i = bisect_right(self._starts, when) - 1
        if i >= 0 and self.pieces[i].end > when:
            return self.pieces[i]
        return None

    def between(self, start: datetime, end: datetime) -> list[Shift]:
        i = max(bisect_right(self._starts, start) - 1, 0)
        out: list[Shift] = []
        while i < len(self.pieces) and self.pieces[i].start < end:
            if self.pieces[i].end > start:
                out.append(self.pieces[i])
            i += 1
        return out


def _flatten(rotation_id: str, overrides: Iterable[OverrideSpan]) -> list[Shift]:
    spans = sorted((o for o in overrides if o.start < o.end), key=lambda o: o.start)
    points = sorted({p for o in spans for p in (o.start, o.end)})
    heap: list[tuple[int, datetime, OverrideSpan]] = []  # (-id, end, override): latest on top
    out: list[Shift] = []
    i = 0
    for a, b in pairwise(points):
        while i < len(spans) and spans[i].start <= a:
            heapq.heappush(heap, (-spans[i].id, spans[i].end, spans[i]))
            i += 1
        while heap and heap[0][1] <= a:
            heapq.heappop(heap)
        if not heap:
            continue
        winner = heap[0][2]
        if out and out[-1].override_id == winner.id and out[-1].end == a:
            out[-1] = replace(out[-1], end=b)
        else:
            out.append(
                Shift(
                    rotation_id=rotation_id,
                    layer=OVERRIDE_LAYER,
                    person_id=winner.person_id,
                    start=a,
                    end=b,
                    source="override",
                    override_id=winner.id,
                )
            )
    return out


# --- the final schedule ----------------------------------------------------------------------


def _overlay(levels: Sequence[Sequence[Shift]], start: datetime, end: datetime) -> list[Shift]:
    """Stack sorted, disjoint-per-level shift lists; a higher level wins where it covers.
    Adjacent pieces with the same identity are joined."""
    points = sorted(
        {start, end}
        | {p for level in levels for s in level for p in (s.start, s.end) if start < p < end}
    )
    cursor = [0] * len(levels)
    out: list[Shift] = []
    for a, b in pairwise(points):
        winner: Shift | None = None
        for li in range(len(levels) - 1, -1, -1):
            level, i = levels[li], cursor[li]
            while i < len(level) and level[i].end <= a:
                i += 1
            cursor[li] = i
            if i < len(level) and level[i].start <= a:
                winner = level[i]
                break
        if winner is None:
            continue
        if out and out[-1].end == a and out[-1].identity == winner.identity:
            out[-1] = replace(out[-1], end=b)
        else:
            out.append(replace(winner, start=a, end=b))
    return out


def _as_index(
    plan: RotationPlan, overrides: OverrideIndex | Iterable[OverrideSpan]
) -> OverrideIndex:
    return (
        overrides
        if isinstance(overrides, OverrideIndex)
        else OverrideIndex(plan.rotation_id, overrides)
    )


def compute_shifts(
    plan: RotationPlan,
    *,
    start: datetime,
    end: datetime,
    overrides: OverrideIndex | Iterable[OverrideSpan] = (),
    swaps: Iterable[SwapSpan] = (),
    from_layer: int = 0,
) -> list[Shift]:
    """The final shifts inside [start, end), cut at its edges, in time order."""
    if start >= end:
        return []
    by_shift = swap_index(swaps)
    levels: list[Sequence[Shift]] = [
        _layer_shifts(plan, layer, start, end, by_shift) for layer in plan.layers[from_layer:]
    ]
    levels.append(_as_index(plan, overrides).between(start, end))
    return _overlay(levels, start, end)


def top_layer_piece(plan: RotationPlan, at: datetime) -> tuple[int, datetime, datetime] | None:
    """The highest layer covering `at` and the stretch of its shift (inside one restrict
    window) around `at`: (layer index, start, end). None where no layer covers."""
    tz = plan.tz
    for index in range(len(plan.layers) - 1, -1, -1):
        layer = plan.layers[index]
        k = shift_index(layer, tz, at)
        if k < 0:
            continue
        a, b = hand_off(layer, tz, k), hand_off(layer, tz, k + 1)
        if layer.restrict:
            window = next((w for w in window_intervals(layer, tz, a, b) if w[0] <= at < w[1]), None)
            if window is None:
                continue  # restricted out: a lower layer may cover
            a, b = max(a, window[0]), min(b, window[1])
        return index, a, b
    return None


def on_call_at(
    plan: RotationPlan,
    *,
    at: datetime,
    overrides: OverrideIndex | Iterable[OverrideSpan] = (),
    swaps: Iterable[SwapSpan] = (),
    piece: tuple[int, datetime, datetime] | None = None,
) -> Shift | None:
    """Who is on call at `at`: the whole final shift around it, as `compute_shifts` gives it.
    `piece` is `top_layer_piece(plan, at)` when the caller has it already."""
    index = _as_index(plan, overrides)
    found = index.at(at)
    if found is not None:
        return found
    top = piece or top_layer_piece(plan, at)
    if top is None:
        return None
    layer_index, a, b = top
    swaps = list(swaps)
    # Only the covering layer and those above it can show up inside its piece. Look at a
    # small stretch around `at` first, widening it while the answer touches its edges.
    reach = timedelta(hours=12)
    while True:
        low, high = max(a, at - reach), min(b, at + reach)
        for shift in compute_shifts(
            plan, start=low, end=high, overrides=index, swaps=swaps, from_layer=layer_index
        ):
            if shift.contains(at):
                if (shift.start > low or low == a) and (shift.end < high or high == b):
                    return shift
                break
        else:  # pragma: no cover - the piece contains `at` by construction
            return None
        reach *= 4


LAYER_ANSWERS_KEPT = 8


def layers_on_call(plan: RotationPlan, at: datetime) -> Shift | None:
    """`on_call_at(plan, at=at)` without overrides or swaps, remembered on the plan.

    Exact, not a cache with an expiry: the answer depends on the plan alone, and a final shift
    [start, end) has the same person at every instant inside it (a layer at or above the one
    that gives it covers all of it, so no lower layer shows through). Alerts for one rotation
    arrive close together, so the last few answers serve most lookups.
    """
    answers = plan._answers
    for known in tuple(answers):  # a snapshot: another thread may be adding an answer
        if known.start <= at < known.end:
            return known
    shift = on_call_at(plan, at=at)
    if shift is not None:
        answers.insert(0, shift)
        del answers[LAYER_ANSWERS_KEPT:]
    return shift


def gaps(plan: RotationPlan, *, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Stretches inside [start, end) that no layer covers (overrides left out: they are runtime
    state, the gaps are in the rotation's definition)."""
    out: list[tuple[datetime, datetime]] = []
    cursor = start
    for shift in compute_shifts(plan, start=start, end=end):
        if shift.start > cursor:
            out.append((cursor, shift.start))
        cursor = max(cursor, shift.end)
    if cursor < end:
        out.append((cursor, end))
    return out
