"""A model's readiness score as an RCA keeps it: a plain value, read from whatever the
readiness domain returns (its `ModelPRS`) through the few attributes the RCA needs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol


class _Evidence(Protocol):
    @property
    def source(self) -> str: ...
    @property
    def at(self) -> datetime | None: ...
    @property
    def detail(self) -> str: ...


class _Check(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def section(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def points(self) -> float: ...
    @property
    def maximum(self) -> float: ...
    @property
    def evidence(self) -> _Evidence: ...
    @property
    def improve(self) -> str: ...


class _Section(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def points(self) -> float: ...
    @property
    def maximum(self) -> float: ...
    @property
    def percent(self) -> float | None: ...
    @property
    def partial(self) -> bool: ...


class ScoreLike(Protocol):
    """What the RCA needs of a readiness score (the readiness domain's `ModelPRS`)."""

    @property
    def model_id(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def percent(self) -> float | None: ...
    @property
    def minimum_percent(self) -> float | None: ...
    @property
    def partial(self) -> bool: ...
    @property
    def live(self) -> bool: ...
    @property
    def sections(self) -> Sequence[_Section]: ...
    @property
    def checks(self) -> Sequence[_Check]: ...
    def gaps(self) -> Sequence[_Check]: ...


@dataclass(frozen=True)
class PrsCheck:
    id: str
    section: str
    title: str
    status: str
    points: float
    maximum: float
    evidence_source: str
    evidence_at: str | None
    evidence_detail: str
    improve: str


@dataclass(frozen=True)
class PrsSection:
    id: str
    title: str
    points: float
    maximum: float
    percent: float | None
    partial: bool


@dataclass(frozen=True)
class PrsAtTime:
    """A model's readiness score as it stood at the incident, with its breakdown and gaps.

    `source` says where it came from: `snapshot` (stored at or before the incident) or
    `computed` (no snapshot that old: computed from the catalog when the RCA was drafted)."""

    model_id: str
    at: str
    percent: float | None
    minimum_percent: float | None
    partial: bool
    live: bool
    source: str
    sections: tuple[PrsSection, ...]
    checks: tuple[PrsCheck, ...]
    gaps: tuple[PrsCheck, ...]

    @classmethod
    def of(cls, prs: ScoreLike, *, source: str) -> PrsAtTime:
        def check(c: _Check) -> PrsCheck:
            at = c.evidence.at
            return PrsCheck(
                id=c.id,
                section=c.section,
                title=c.title,
                status=str(c.status),
                points=float(c.points),
                maximum=float(c.maximum),
                evidence_source=c.evidence.source,
                evidence_at=at.isoformat() if at else None,
                evidence_detail=c.evidence.detail,
                improve=c.improve,
            )

        return cls(
            model_id=prs.model_id,
            at=prs.at.isoformat(),
            percent=prs.percent,
            minimum_percent=prs.minimum_percent,
            partial=prs.partial,
            live=prs.live,
            source=source,
            sections=tuple(
                PrsSection(
                    id=s.id,
                    title=s.title,
                    points=float(s.points),
                    maximum=float(s.maximum),
                    percent=s.percent,
                    partial=s.partial,
                )
                for s in prs.sections
            ),
            checks=tuple(check(c) for c in prs.checks),
            gaps=tuple(check(c) for c in prs.gaps()),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrsAtTime:
        return cls(
            **{
                **data,
                "sections": tuple(PrsSection(**s) for s in data["sections"]),
                "checks": tuple(PrsCheck(**c) for c in data["checks"]),
                "gaps": tuple(PrsCheck(**c) for c in data["gaps"]),
            }
        )
