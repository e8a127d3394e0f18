"""What the readiness checks read, and the helpers every check uses to state its result.

`ModelFacts` holds a model's declared facts and our own history; `Context` adds the live
readings and the time. Thresholds follow the shipped alert rules where one exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from oncall.catalog.schema import ReadinessSpec
from oncall.readiness.live import LiveReadings
from oncall.readiness.models import POINTS, CheckResult, CheckStatus, Evidence

APPROVAL_MAX_AGE = timedelta(days=365)  # approvals and reviews older than 12 months: missing
PRACTICE_MAX_AGE = timedelta(days=30)  # a declared test/data-check run older than this: stale
DRIFT_JOB_MAX_AGE = timedelta(hours=36)  # as ModelDriftJobStale
BATCH_SUCCESS_MAX_AGE = timedelta(hours=26)  # as BatchJobNoRecentSuccess
BATCH_SUCCESS_RATE = 0.95  # over 30 days
RCA_WINDOW = timedelta(days=90)
CATALOG = "catalog"


@dataclass(frozen=True)
class ActionItemDue:
    """An RCA action item of the model that fell due in the follow-through window."""

    incident_id: int
    number: int
    due_at: datetime
    done_at: datetime | None

    def on_time(self) -> bool:
        return self.done_at is not None and self.done_at <= self.due_at


# Checks whose runs CI may push (`oncall evidence push`); the latest run decides them.
PUSHABLE_CHECKS = ("testing.unit", "testing.integration", "data.validation")


@dataclass(frozen=True)
class PushedRun:
    """The latest recorded run of a check: `passed` or `failed`, when, at which commit."""

    result: str
    ran_at: datetime
    commit: str | None = None
    by: str = "api"
    detail: str | None = None


@dataclass(frozen=True)
class ModelFacts:
    """What the checks read about one model besides Prometheus."""

    model_id: str
    team_id: str | None
    readiness: ReadinessSpec
    routed_to: str | None  # the rotation its alerts page, None when they reach nobody
    action_items_due: Sequence[ActionItemDue] = field(default_factory=tuple)
    runs: Mapping[str, PushedRun] = field(default_factory=dict)  # check id -> latest run


@dataclass(frozen=True)
class Context:
    facts: ModelFacts
    live: LiveReadings | None
    now: datetime

    @property
    def model(self) -> str:
        return self.facts.model_id

    def declared(self, path: str) -> str:
        return f"oncall.yaml models[{self.model}].readiness.{path}"


def result(
    check_id: str, title: str, status: CheckStatus, evidence: Evidence, improve: str = ""
) -> CheckResult:
    points = POINTS[status]
    return CheckResult(
        id=check_id,
        section=check_id.split(".", 1)[0],
        title=title,
        status=status,
        points=points or 0.0,
        maximum=0.0 if points is None else 1.0,
        evidence=evidence,
        improve="" if status is CheckStatus.automated else improve,
    )


def ago(then: datetime, now: datetime) -> str:
    seconds = max(0.0, (now - then).total_seconds())
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
