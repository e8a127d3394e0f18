"""PagerDuty routing keys per team: the catalog's `pagerduty_routing_key`, a literal or
`${ENV_NAME}` (the catalog lives in git, keys are secrets), else `PAGERDUTY_ROUTING_KEY`.

Keys are resolved when an event is sent, from the team id: they are never written to the
outbox or logged."""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from sqlmodel import Session, col, select

from oncall.catalog.models import Team
from oncall.catalog.schema import CatalogSpec
from oncall.config import Settings, env_reference, environment_value


@dataclass(frozen=True)
class RoutingKey:
    """A resolved key, and where it came from (shown instead of the key itself)."""

    value: str
    origin: str  # "teams.<id>", "${NAME}" or "PAGERDUTY_ROUTING_KEY"

    def __repr__(self) -> str:  # never the key
        return f"RoutingKey(origin={self.origin!r})"


def resolve(
    raw: str | None, settings: Settings, *, team_id: str | None = None
) -> RoutingKey | None:
    """The key for a team whose catalog value is `raw`; None when nothing is configured."""
    if raw:
        name = env_reference(raw)
        if name is None:
            return RoutingKey(raw.strip(), f"teams.{team_id}" if team_id else "catalog")
        value = environment_value(name)
        if value is not None:
            return RoutingKey(value, f"${{{name}}}")
    if settings.pagerduty_routing_key is not None:
        return RoutingKey(
            settings.pagerduty_routing_key.get_secret_value(), "PAGERDUTY_ROUTING_KEY"
        )
    return None


def key_for_team(*, session: Session, team_id: str | None, settings: Settings) -> RoutingKey | None:
    team = session.get(Team, team_id) if team_id else None
    return resolve(team.pagerduty_routing_key if team else None, settings, team_id=team_id)


def any_key_configured(*, session: Session, settings: Settings) -> bool:
    """Whether some team can page: PAGERDUTY_ROUTING_KEY, or a team's key that resolves."""
    if settings.pagerduty_routing_key is not None:
        return True
    raws = session.exec(
        select(Team.pagerduty_routing_key)
        .where(col(Team.pagerduty_routing_key).is_not(None))
        .where(col(Team.retired_at).is_(None))
    )
    return any(resolve(raw, settings) is not None for raw in raws)


def _team_lines(text: str) -> dict[int, int]:
    """teams[i] -> the line of its `pagerduty_routing_key`, read from the document."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[int, int] = {}
    if not isinstance(root, yaml.MappingNode):
        return lines
    for key, value in root.value:
        if key.value != "teams" or not isinstance(value, yaml.SequenceNode):
            continue
        for index, team in enumerate(value.value):
            if isinstance(team, yaml.MappingNode):
                for field, _ in team.value:
                    if field.value == "pagerduty_routing_key":
                        lines[index] = field.start_mark.line + 1
    return lines


def unset_variable_warnings(*, spec: CatalogSpec, text: str, source: str) -> list[str]:
    """Teams whose `${NAME}` is not set here, with file and line: their pages would go to
    PAGERDUTY_ROUTING_KEY, or to the console when that is unset too."""
    lines = _team_lines(text)
    out: list[str] = []
    for index, team in enumerate(spec.teams):
        name = env_reference(team.pagerduty_routing_key)
        if name is None or environment_value(name) is not None:
            continue
        where = f"{source}:{lines[index]}" if index in lines else source
        out.append(
            f"{where}: teams[{index}].pagerduty_routing_key: team {team.id!r} names ${{{name}}}, "
            f"which is not set; its pages go to PAGERDUTY_ROUTING_KEY, or to the console"
        )
    return out
