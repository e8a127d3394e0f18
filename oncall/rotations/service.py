"""Rotations with the database, by concern; this module only names where each part lives.

- `queries`: rotation plans, who is on call, final shifts, a person's shifts, load;
- `permissions`: who may change a rotation, and what a change may name;
- `overrides`: add, list, remove;
- `swaps`: request, accept, decline, cancel, and the swaps an edit left behind;
- `catalog_checks`: what `oncall config check` warns about (gaps, swaps a file would break).

New code imports those modules; the names below stay importable from here for older callers.
"""

from __future__ import annotations

from oncall.actors import SYSTEM_ACTORS
from oncall.rotations.catalog_checks import GAP_HORIZON, catalog_warnings, plans_from_spec
from oncall.rotations.overrides import add_override, list_overrides, override_dict, remove_override
from oncall.rotations.permissions import active_person, active_rotation, aware, require_permission
from oncall.rotations.queries import (
    accepted_swaps,
    final_shifts,
    load_report,
    on_call_person,
    override_spans,
    person_shifts,
    rotation_plan,
    who_is_on_call,
    who_is_on_call_everywhere,
)
from oncall.rotations.swaps import swap_span

__all__ = [
    "GAP_HORIZON",
    "SYSTEM_ACTORS",
    "accepted_swaps",
    "active_person",
    "active_rotation",
    "add_override",
    "aware",
    "catalog_warnings",
    "final_shifts",
    "list_overrides",
    "load_report",
    "on_call_person",
    "override_dict",
    "override_spans",
    "person_shifts",
    "plans_from_spec",
    "remove_override",
    "require_permission",
    "rotation_plan",
    "swap_span",
    "who_is_on_call",
    "who_is_on_call_everywhere",
]
