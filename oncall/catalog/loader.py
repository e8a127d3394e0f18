"""Read oncall.yaml and validate it, reporting every error with its file, line and field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from oncall.catalog.schema import CatalogSpec

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class InvalidConfig(Exception):
    """The catalog file cannot be used; `problems` lists every reason at once."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _LineMap:
    """Where each value of the document sits: path -> 1-based line."""

    def __init__(self) -> None:
        self.lines: dict[Loc, int] = {}

    def line_of(self, loc: Loc) -> int | None:
        # A missing field has no line of its own: point at the closest enclosing value.
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None


def _walk(node: yaml.Node, loc: Loc, lines: _LineMap, problems: list[tuple[Loc, str]]) -> None:
    lines.lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                problems.append(
                    ((*loc, key), f"duplicate key {key!r} (line {key_node.start_mark.line + 1})")
                )
            seen.add(key)
            lines.lines[(*loc, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*loc, key), lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*loc, index), lines, problems)


class _SafeLoader(yaml.SafeLoader):
    """SafeLoader whose impossible dates (`2026-02-30`) are YAML errors with a line, not crashes."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"bad date {node.value!r}: {exc}", node.start_mark
            ) from None


_SafeLoader.add_constructor("tag:yaml.org,2002:timestamp", _SafeLoader.construct_yaml_timestamp)


def parse_catalog_text(text: str, *, source: str, base_dir: Path | None = None) -> CatalogSpec:
    """Validate catalog text; raise InvalidConfig naming every problem and where it is.

    Files the catalog names (a team's `rca_template`) are read relative to `base_dir`
    (the catalog file's folder; the working directory by default)."""
    lines = _LineMap()
    structural: list[tuple[Loc, str]] = []
    try:
        loader = _SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, yaml.reader.ReaderError):  # a control character: no mark, a position
            line = text[: exc.position].count("\n") + 1
            char = exc.character if isinstance(exc.character, int) else ord(exc.character)
            reason = f"unacceptable character #x{char:04x}: {exc.reason}"
        if "expected <block end>" in reason or "mapping values are not allowed" in reason:
            reason += " (check the indentation)"
        raise InvalidConfig(
            [ConfigProblem(source, line, "", f"malformed YAML: {reason}")]
        ) from None
    if node is None or data is None:
        raise InvalidConfig([ConfigProblem(source, 1, "", "the file is empty")])
    if not isinstance(data, dict):
        raise InvalidConfig(
            [ConfigProblem(source, node.start_mark.line + 1, "", "the top level must be a mapping")]
        )
    _walk(node, (), lines, structural)

    found: list[tuple[Loc, str]] = list(structural)
    spec: CatalogSpec | None = None
    try:
        spec = CatalogSpec.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = f"unknown field {loc[-1]!r}"
            found.append((loc, message))
    found += _cross_reference_problems(data)
    if spec is not None:
        found += _read_rca_templates(spec, base_dir or Path.cwd())
    if found or spec is None:
        problems = [
            ConfigProblem(source, lines.line_of(loc), format_loc(loc), msg) for loc, msg in found
        ]
        problems.sort(key=lambda p: p.line or 0)
        raise InvalidConfig(problems)
    return spec


def load_catalog(path: Path | str) -> CatalogSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidConfig([ConfigProblem(str(path), None, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidConfig([ConfigProblem(str(path), None, "", f"cannot read: {exc}")]) from None
    return parse_catalog_text(text, source=str(path), base_dir=path.parent)


def _read_rca_templates(spec: CatalogSpec, base_dir: Path) -> list[tuple[Loc, str]]:
    """Read each team's RCA template and check that it parses; the spec keeps the source."""
    from oncall.rca.render import template_problem

    out: list[tuple[Loc, str]] = []
    for index, team in enumerate(spec.teams):
        if team.rca_template is None:
            continue
        loc: Loc = ("teams", index, "rca_template")
        path = base_dir / team.rca_template
        try:
            source = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            out.append((loc, f"no such file {str(path)!r} (relative to the catalog file)"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            out.append((loc, f"cannot read {str(path)!r}: {exc}"))
            continue
        problem = template_problem(source)
        if problem is not None:
            out.append((loc, f"{team.rca_template}: {problem}"))
            continue
        team._rca_template_source = source
    return out


def _items(data: dict[str, Any], kind: str) -> list[tuple[int, dict[str, Any]]]:
    value = data.get(kind)
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _list(value: Any) -> list[tuple[int, str]]:
    return [(i, str(v)) for i, v in enumerate(value)] if isinstance(value, list) else []


def _cross_reference_problems(data: dict[str, Any]) -> list[tuple[Loc, str]]:
    """References between sections, checked on the raw document so that they are reported
    together with shape errors ("all errors at once")."""
    out: list[tuple[Loc, str]] = []

    def ids(kind: str) -> set[str]:
        return {str(item["id"]) for _, item in _items(data, kind) if "id" in item}

    teams, people, rotations = ids("teams"), ids("people"), ids("rotations")
    policies = ids("escalation_policies")

    for kind in ("teams", "people", "rotations", "escalation_policies", "models"):
        first: dict[str, int] = {}
        for index, item in _items(data, kind):
            if "id" not in item:
                continue
            value = str(item["id"])
            if value in first:
                out.append(
                    ((kind, index, "id"), f"duplicate id {value!r} (also {kind}[{first[value]}])")
                )
            else:
                first[value] = index

    def need(ref: Any, known: set[str], what: str, loc: Loc) -> None:
        if ref is not None and str(ref) not in known:
            out.append((loc, f"unknown {what} {str(ref)!r}"))

    for i, team in _items(data, "teams"):
        for j, lead in _list(team.get("leads")):
            need(lead, people, "person", ("teams", i, "leads", j))
    for i, rotation in _items(data, "rotations"):
        need(rotation.get("team"), teams, "team", ("rotations", i, "team"))
        layers = rotation.get("layers")
        seen_names: set[str] = set()
        for j, layer in enumerate(layers if isinstance(layers, list) else []):
            if not isinstance(layer, dict):
                continue
            if layer.get("name") is not None:
                name = str(layer["name"])
                if name in seen_names:
                    out.append(
                        (("rotations", i, "layers", j, "name"), f"duplicate layer name {name!r}")
                    )
                seen_names.add(name)
            for k, member in _list(layer.get("members")):
                need(member, people, "person", ("rotations", i, "layers", j, "members", k))
    for i, policy in _items(data, "escalation_policies"):
        steps = policy.get("steps")
        for j, step in enumerate(steps if isinstance(steps, list) else []):
            if not isinstance(step, dict):
                continue
            for k, target in _list(step.get("notify")):
                kind, _, ref = target.partition(":")
                loc = ("escalation_policies", i, "steps", j, "notify", k)
                if kind == "person" and ref:
                    need(ref, people, "person", loc)
                elif kind == "rotation" and ref:
                    need(ref, rotations, "rotation", loc)
    for i, model in _items(data, "models"):
        need(model.get("team"), teams, "team", ("models", i, "team"))
        need(model.get("rotation"), rotations, "rotation", ("models", i, "rotation"))
        need(
            model.get("escalation_policy"),
            policies,
            "escalation policy",
            ("models", i, "escalation_policy"),
        )
    for i, route in _items(data, "routes"):
        need(route.get("rotation"), rotations, "rotation", ("routes", i, "rotation"))
        need(
            route.get("escalation_policy"),
            policies,
            "escalation policy",
            ("routes", i, "escalation_policy"),
        )
    return out
