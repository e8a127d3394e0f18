"""Production Readiness Score: the result types, and the table of stored snapshots.

A check has a status; the status gives its points (automated 1, manual ½, missing or failing
0) or leaves it out of the maximum (unknown, stale), which marks the score partial.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from oncall.db import UTCDateTime


class CheckStatus(StrEnum):
    automated = "automated"  # done, and checked by a machine: 1 point
    manual = "manual"  # done by hand: ½ point
    missing = "missing"  # not done: 0
    failing = "failing"  # in place but not working (a batch job that fails): 0
    unknown = "unknown"  # cannot be told now (Prometheus down, not applicable): left out
    stale = "stale"  # evidence too old to count either way: left out


POINTS: dict[CheckStatus, float | None] = {
    CheckStatus.automated: 1.0,
    CheckStatus.manual: 0.5,
    CheckStatus.missing: 0.0,
    CheckStatus.failing: 0.0,
    CheckStatus.unknown: None,
    CheckStatus.stale: None,
}


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _percent(points: float, maximum: float) -> float | None:
    return round(100.0 * points / maximum, 1) if maximum > 0 else None


@dataclass(frozen=True)
class Evidence:
    """What decided a check: where it came from (`catalog`, a Prometheus URL, `incidents`,
    `rca`), when it was true (a declared date, the time of the query) and what it said."""

    source: str
    at: datetime | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "at": _when(self.at), "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        return cls(str(data["source"]), _parse_when(data.get("at")), str(data["detail"]))


@dataclass(frozen=True)
class CheckResult:
    id: str  # "testing.unit": section, dot, check
    section: str
    title: str
    status: CheckStatus
    points: float
    maximum: float  # 0 when unknown/stale (left out)
    evidence: Evidence
    improve: str  # what to do next, for the model's data scientists; "" when nothing

    @property
    def at_stake(self) -> float:
        """Points this check could still add: 1 when missing/failing, ½ when manual."""
        return 1.0 - self.points if self.maximum else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "section": self.section,
            "title": self.title,
            "status": str(self.status),
            "points": self.points,
            "maximum": self.maximum,
            "evidence": self.evidence.to_dict(),
            "improve": self.improve,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            id=str(data["id"]),
            section=str(data["section"]),
            title=str(data["title"]),
            status=CheckStatus(data["status"]),
            points=float(data["points"]),
            maximum=float(data["maximum"]),
            evidence=Evidence.from_dict(data["evidence"]),
            improve=str(data.get("improve", "")),
        )


@dataclass(frozen=True)
class SectionScore:
    id: str
    title: str
    points: float
    maximum: float
    percent: float | None  # None when every check of the section is unknown or stale
    partial: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "points": self.points,
            "maximum": self.maximum,
            "percent": self.percent,
            "partial": self.partial,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SectionScore:
        return cls(
            id=str(data["id"]),
            title=str(data["title"]),
            points=float(data["points"]),
            maximum=float(data["maximum"]),
            percent=None if data.get("percent") is None else float(data["percent"]),
            partial=bool(data["partial"]),
        )


# Something broken (failing) before something not done (missing), before something done by hand.
_GAP_ORDER = {CheckStatus.failing: 0, CheckStatus.missing: 1, CheckStatus.manual: 2}


@dataclass(frozen=True)
class ModelPRS:
    """One model's score at one time, with every check and the evidence behind it."""

    model_id: str
    team_id: str | None
    at: datetime
    percent: float | None  # points over maximum, 0-100; None when nothing could be scored
    minimum_percent: float | None  # the lowest section (ML Test Score style)
    partial: bool  # some check was unknown or stale: the score may move once it is known
    sections: tuple[SectionScore, ...]
    checks: tuple[CheckResult, ...]
    live: bool  # live evidence from Prometheus was read (not only declared facts)
    incidents_30d: int  # shown beside the score, not an input

    @property
    def points(self) -> float:
        return sum(c.points for c in self.checks)

    @property
    def maximum(self) -> float:
        return sum(c.maximum for c in self.checks)

    def gaps(self) -> list[CheckResult]:
        """What to improve: failing, then missing, then manual checks, by points at stake."""
        found = [c for c in self.checks if c.status in _GAP_ORDER]
        return sorted(found, key=lambda c: (_GAP_ORDER[c.status], -c.at_stake))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "team_id": self.team_id,
            "at": self.at.isoformat(),
            "percent": self.percent,
            "minimum_percent": self.minimum_percent,
            "partial": self.partial,
            "live": self.live,
            "incidents_30d": self.incidents_30d,
            "points": self.points,
            "maximum": self.maximum,
            "sections": [s.to_dict() for s in self.sections],
            "checks": [c.to_dict() for c in self.checks],
            "gaps": [c.id for c in self.gaps()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelPRS:
        at = _parse_when(data["at"])
        if at is None:
            raise ValueError("a PRS needs its time `at`")
        return cls(
            model_id=str(data["model_id"]),
            team_id=data.get("team_id"),
            at=at,
            percent=None if data.get("percent") is None else float(data["percent"]),
            minimum_percent=(
                None if data.get("minimum_percent") is None else float(data["minimum_percent"])
            ),
            partial=bool(data["partial"]),
            sections=tuple(SectionScore.from_dict(s) for s in data.get("sections", [])),
            checks=tuple(CheckResult.from_dict(c) for c in data.get("checks", [])),
            live=bool(data.get("live", False)),
            incidents_30d=int(data.get("incidents_30d", 0)),
        )


def score(
    *,
    model_id: str,
    team_id: str | None,
    at: datetime,
    checks: tuple[CheckResult, ...],
    sections: tuple[tuple[str, str], ...],
    live: bool,
    incidents_30d: int,
) -> ModelPRS:
    """Add up checks per section (in the order of `sections`: id, title) and overall."""
    scores = []
    for section_id, title in sections:
        mine = [c for c in checks if c.section == section_id]
        points = sum(c.points for c in mine)
        maximum = sum(c.maximum for c in mine)
        scores.append(
            SectionScore(
                id=section_id,
                title=title,
                points=points,
                maximum=maximum,
                percent=_percent(points, maximum),
                partial=any(POINTS[c.status] is None for c in mine),
            )
        )
    known = [s.percent for s in scores if s.percent is not None]
    return ModelPRS(
        model_id=model_id,
        team_id=team_id,
        at=at,
        percent=_percent(sum(c.points for c in checks), sum(c.maximum for c in checks)),
        minimum_percent=min(known) if known else None,
        partial=any(POINTS[c.status] is None for c in checks),
        sections=tuple(scores),
        checks=checks,
        live=live,
        incidents_30d=incidents_30d,
    )


class ReadinessSnapshot(SQLModel, table=True):
    """A model's PRS as it was at `taken_at`: daily by the scheduler, and on demand."""

    __tablename__ = "readiness_snapshots"

    id: int | None = Field(default=None, primary_key=True)
    model_id: str = Field(max_length=128, index=True)
    team_id: str | None = Field(default=None, max_length=64)
    taken_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    percent: float | None = None
    minimum_percent: float | None = None
    partial: bool = False
    live: bool = False
    # The whole ModelPRS.to_dict(): checks, evidence and sections as they were then.
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class RecordedRun(SQLModel, table=True):
    """A run of a model's tests or data checks, pushed from CI (`oncall evidence push`):
    the latest one decides its check over what oncall.yaml declares."""

    __tablename__ = "readiness_evidence"

    id: int | None = Field(default=None, primary_key=True)
    model_id: str = Field(max_length=128, index=True)
    check_id: str = Field(max_length=64)  # testing.unit, testing.integration, data.validation
    result: str = Field(max_length=16)  # passed | failed
    ran_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    commit: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    recorded_by: str = Field(max_length=64)
    recorded_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
