"""Routing: which team, rotation and escalation policy an Alertmanager group goes to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as select_columns
from sqlmodel import Session

from oncall.catalog.models import EscalationPolicy, Model, Rotation, Route, Team
from oncall.db import DriverQuery, read_json_text, read_sqlite_timestamp


@dataclass(frozen=True)
class RoutingDecision:
    team_id: str | None
    model_id: str | None
    rotation_id: str | None
    escalation_policy_id: str | None
    warning: str | None = None
    via: str = "model"  # "model", "route N" or "none"
    # Read with the model when routed by it (None: look them up): the team's Slack channel
    # and the policy's steps as they are now.
    slack_channel: str | None = None
    escalation_steps: tuple[Mapping[str, Any], ...] | None = None


def route_labels(*, session: Session, labels: Mapping[str, str]) -> RoutingDecision:
    """`labels` are the group's common labels. A `model` label naming a catalog model wins;
    otherwise the first route whose `match` labels all equal the alert's; else nobody."""
    warning = None
    model_id = labels.get("model")
    if model_id:
        model = _load_model(session, model_id)
        if model is not None and model.retired_at is None:
            rotation_id = model.rotation_id
            policy_id = model.escalation_policy_id
            if rotation_id is not None and policy_id is not None:
                return RoutingDecision(
                    model.team_id,
                    model.id,
                    rotation_id,
                    policy_id,
                    slack_channel=model.slack_channel,
                    escalation_steps=tuple(model.steps or ()),
                )
            fallback = _first_route(session, labels)
            if fallback is None:
                return RoutingDecision(
                    model.team_id,
                    model.id,
                    rotation_id,
                    policy_id,
                    warning=(
                        f"model {model_id!r} has no rotation or escalation policy "
                        "and no route matched"
                    ),
                )
            route = fallback
            return RoutingDecision(
                model.team_id,
                model.id,
                rotation_id or route.rotation_id,
                policy_id or route.escalation_policy_id,
                via=f"route {route.position}",
            )
        warning = (
            f"model {model_id!r} is retired in the catalog; routed by routes"
            if model is not None
            else f"model {model_id!r} is not in the catalog; routed by routes"
        )
    found = _first_route(session, labels)
    if found is None:
        return RoutingDecision(
            None,
            model_id,
            None,
            None,
            warning=(warning + "; no route matched")
            if warning
            else "no route matched these labels",
            via="none",
        )
    route = found
    return RoutingDecision(
        route.team_id,
        model_id,
        route.rotation_id,
        route.escalation_policy_id,
        warning=warning,
        via=f"route {route.position}",
        slack_channel=route.slack_channel,
        escalation_steps=tuple(route.steps or ()),
    )


_MODELS = Model.__table__  # type: ignore[attr-defined]
_TEAMS = Team.__table__  # type: ignore[attr-defined]
_POLICIES = EscalationPolicy.__table__  # type: ignore[attr-defined]
# The model with what routing by it needs from its team and policy, in one query of plain
# columns: every new incident runs it, and loading ORM objects costs more than the query.
_MODEL_WITH_CATALOG = (
    select_columns(
        _MODELS.c.id,
        _MODELS.c.team_id,
        _MODELS.c.rotation_id,
        _MODELS.c.escalation_policy_id,
        _MODELS.c.retired_at,
        _TEAMS.c.slack_channel,
        _POLICIES.c.steps,
    )
    .join(_TEAMS, _TEAMS.c.id == _MODELS.c.team_id)
    .outerjoin(_POLICIES, _POLICIES.c.id == _MODELS.c.escalation_policy_id)
    .where(_MODELS.c.id == bindparam("model_id"))
)


_MODEL_QUERY = DriverQuery(
    _MODEL_WITH_CATALOG, {"retired_at": read_sqlite_timestamp, "steps": read_json_text}
)


def _load_model(session: Session, model_id: str) -> Any:
    return _MODEL_QUERY.first(session.connection(), {"model_id": model_id})


_ROUTES = Route.__table__  # type: ignore[attr-defined]
_ROTATIONS = Rotation.__table__  # type: ignore[attr-defined]
# The routes in order, each with its rotation's team, that team's channel and the policy's
# steps: one query of plain columns, as for models (a cluster failing at once is routed here).
_ROUTES_WITH_CATALOG = (
    select_columns(
        _ROUTES.c.position,
        _ROUTES.c.match,
        _ROUTES.c.rotation_id,
        _ROUTES.c.escalation_policy_id,
        _ROTATIONS.c.team_id,
        _TEAMS.c.slack_channel,
        _POLICIES.c.steps,
    )
    .outerjoin(_ROTATIONS, _ROTATIONS.c.id == _ROUTES.c.rotation_id)
    .outerjoin(_TEAMS, _TEAMS.c.id == _ROTATIONS.c.team_id)
    .outerjoin(_POLICIES, _POLICIES.c.id == _ROUTES.c.escalation_policy_id)
    .order_by(_ROUTES.c.position)
)


_ROUTES_QUERY = DriverQuery(
    _ROUTES_WITH_CATALOG, {"match": read_json_text, "steps": read_json_text}
)


def _first_route(session: Session, labels: Mapping[str, str]) -> Any:
    for route in _ROUTES_QUERY.rows(session.connection()):
        if all(labels.get(k) == v for k, v in (route.match or {}).items()):
            return route  # a row: position, match, rotation_id, ..., team_id, slack_channel
    return None
