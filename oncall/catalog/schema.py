"""The oncall.yaml format, as pydantic models; cross-references are checked in `loader`."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator
from pydantic.functional_validators import AfterValidator, BeforeValidator

from oncall.rotations.spec import parse_duration, parse_restrict_window, parse_shift_length

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NOTIFY_KINDS = ("oncall", "pagerduty", "team_channel")


def _check_id(value: str) -> str:
    if not _ID_RE.match(value):
        raise ValueError(
            f"bad id {value!r}: use letters, digits, '-', '_' or '.', starting with a letter or "
            "digit, at most 64 characters"
        )
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name such as Europe/Berlin"
        ) from None
    return value


def _check_shift(value: Any) -> str:
    return str(parse_shift_length(str(value)))


def _check_restrict(value: Any) -> str:
    parse_restrict_window(str(value))
    return str(value)


def _check_duration(value: Any) -> str:
    parse_duration(str(value))
    return str(value)


def _check_notify(value: str) -> str:
    kind, sep, ref = value.partition(":")
    if (not sep and kind in NOTIFY_KINDS) or (sep and kind in ("person", "rotation") and ref):
        return value
    raise ValueError(
        f"unknown notify target {value!r}: use oncall, pagerduty, team_channel, "
        "person:<id> or rotation:<id>"
    )


_ROUTING_KEY_RE = re.compile(r"^[A-Za-z0-9]{32}$")
_ENV_NAME_RE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")


def _check_routing_key(value: str) -> str:
    value = value.strip()
    if _ENV_NAME_RE.match(value) or _ROUTING_KEY_RE.match(value):
        return value
    raise ValueError(
        "use ${ENV_NAME} (the key stays out of git) or the 32-character integration key "
        "of the PagerDuty service"
    )


_USERGROUP_RE = re.compile(r"^S[A-Z0-9]{2,31}$")


def _check_usergroup(value: str) -> str:
    if not _USERGROUP_RE.match(value):
        raise ValueError(
            f"bad slack_usergroup {value!r}: use the user group's id (such as S0GROWTHOC, "
            "shown in the group's URL), not its @handle"
        )
    return value


def _as_str(value: Any) -> Any:
    # YAML reads `start: 2026-01-05 10:00:00` as a datetime and ids such as 1234 as ints.
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


Id = Annotated[str, BeforeValidator(_as_str), AfterValidator(_check_id)]
TimeZone = Annotated[str, AfterValidator(_check_timezone)]
ShiftText = Annotated[str, BeforeValidator(_check_shift)]
RestrictText = Annotated[str, BeforeValidator(_check_restrict)]
DurationText = Annotated[str, BeforeValidator(_check_duration)]
NotifyTarget = Annotated[str, AfterValidator(_check_notify)]
RoutingKey = Annotated[str, AfterValidator(_check_routing_key)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TeamSpec(_Spec):
    id: Id
    name: str
    slack_channel: str | None = None
    leads: list[Id] = Field(default_factory=list)
    pagerduty_routing_key: RoutingKey | None = None
    # A Jinja2 Markdown template for the team's RCAs, relative to the catalog file.
    rca_template: str | None = None
    # Its source, read and checked by the loader (not a field of the file).
    _rca_template_source: str | None = PrivateAttr(default=None)

    @property
    def rca_template_source(self) -> str | None:
        return self._rca_template_source


class PersonSpec(_Spec):
    id: Id
    name: str
    slack_user: str | None = None
    email: str | None = None
    timezone: TimeZone | None = None


class LayerSpec(_Spec):
    name: str | None = None
    members: list[Id] = Field(min_length=1)
    start: datetime
    shift: ShiftText
    restrict: list[RestrictText] = Field(default_factory=list)

    @field_validator("start", mode="before")
    @classmethod
    def _local_start(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(
                    f"bad start {value!r}: use a local date and time such as 2026-01-05T10:00"
                ) from None
            value = parsed
        if isinstance(value, datetime) and value.tzinfo is not None:
            raise ValueError(
                "start is a local time in the rotation's time zone: drop the UTC offset"
            )
        return value


class RotationSpec(_Spec):
    id: Id
    team: Id
    timezone: TimeZone | None = None
    # The Slack user group (its id, e.g. S0GROWTHOC) set to whoever is on call.
    slack_usergroup: Annotated[str, AfterValidator(_check_usergroup)] | None = None
    layers: list[LayerSpec] = Field(min_length=1)


class StepSpec(_Spec):
    after: DurationText
    notify: list[NotifyTarget] = Field(min_length=1)


class EscalationPolicySpec(_Spec):
    id: Id
    steps: list[StepSpec] = Field(min_length=1)


def _check_document(value: bool | str) -> bool | str:
    if isinstance(value, str):
        scheme, sep, _ = value.partition(":")
        if not value.strip():
            raise ValueError("empty link: give a URL, a path in the repository, or true")
        if sep and "/" not in scheme and scheme.lower() not in ("http", "https"):
            raise ValueError(f"link {value!r}: only http(s) URLs or relative paths")
    return value


# `true`: it exists (½ point until linked); a link (http(s) URL or repository path): 1 point.
Document = Annotated[bool | str, AfterValidator(_check_document)]
Practice = Literal["automated", "manual", "none"]


class PracticeRecord(_Spec):
    """A practice with the date it last ran, e.g. `{status: automated, last_run: 2026-02-01}`."""

    status: Practice
    last_run: date | None = None


class DocumentationSpec(_Spec):
    readme: Document | None = None
    runbook: Document | None = None
    design_doc: Document | None = None
    model_card: Document | None = None


class TestsSpec(_Spec):
    unit: Practice | PracticeRecord | None = None
    integration: Practice | PracticeRecord | None = None


class ApprovalSpec(_Spec):
    approved_on: date | None = None
    approved_by: str | None = None


class ReviewSpec(_Spec):
    reviewed_on: date | None = None
    reviewed_by: str | None = None


class ReadinessSpec(_Spec):
    """Declared readiness evidence of a model; live evidence comes from Prometheus."""

    documentation: DocumentationSpec = Field(default_factory=DocumentationSpec)
    tests: TestsSpec = Field(default_factory=TestsSpec)
    data_checks: Practice | PracticeRecord | None = None
    # `scheduled`/`automated`: retrained by a job; `manual`: someone reruns a notebook.
    retraining: Literal["scheduled", "automated", "manual", "none"] | None = None
    # `automated`: one command or an automatic canary rollback; `manual`: written-down steps.
    rollback: Practice | None = None
    # Whether the model runs batch jobs; unset: decided by whether Prometheus has its runs.
    batch: bool | None = None
    governance: ApprovalSpec = Field(default_factory=ApprovalSpec)
    ethics: ReviewSpec = Field(default_factory=ReviewSpec)


class ModelSpec(_Spec):
    id: Id
    name: str
    team: Id
    rotation: Id | None = None
    escalation_policy: Id | None = None
    readiness: ReadinessSpec = Field(default_factory=ReadinessSpec)
    serves: str | None = None  # what the model does for the business, shown in RCAs


class RouteSpec(_Spec):
    match: dict[str, Annotated[str, BeforeValidator(_as_str)]] = Field(default_factory=dict)
    rotation: Id
    escalation_policy: Id


class CatalogSpec(_Spec):
    timezone: TimeZone = "UTC"
    teams: list[TeamSpec] = Field(default_factory=list)
    people: list[PersonSpec] = Field(default_factory=list)
    rotations: list[RotationSpec] = Field(default_factory=list)
    escalation_policies: list[EscalationPolicySpec] = Field(default_factory=list)
    models: list[ModelSpec] = Field(default_factory=list)
    routes: list[RouteSpec] = Field(default_factory=list)
