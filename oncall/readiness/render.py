"""PRS as plain text for the terminal: a table of models, one model's breakdown."""

from __future__ import annotations

from collections.abc import Sequence

from oncall.readiness.live import LiveReadings
from oncall.readiness.models import CheckStatus, ModelPRS

MARK = {
    CheckStatus.automated: "✔",
    CheckStatus.manual: "½",
    CheckStatus.missing: "✘",
    CheckStatus.failing: "✘",
    CheckStatus.unknown: "?",
    CheckStatus.stale: "⌛",
}


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def headline(prs: ModelPRS) -> str:
    partial = " (partial)" if prs.partial else ""
    return f"PRS {percent(prs.percent)}{partial}, lowest section {percent(prs.minimum_percent)}"


def evidence_line(readings: LiveReadings | None) -> str:
    """Which evidence the scores stand on: live, declared only, or Prometheus down."""
    if readings is None:
        return "evidence: declared only (ONCALL_PROMETHEUS_URL is not set; live checks unknown)"
    if readings.error is not None:
        return (
            f"evidence: declared only: Prometheus at {readings.source} did not answer "
            f"({readings.error}); live checks unknown, scores partial"
        )
    return f"evidence: declared and live from Prometheus at {readings.source}"


def table(scores: Sequence[ModelPRS]) -> list[str]:
    if not scores:
        return ["no models in the catalog"]
    width = max(len("MODEL"), *(len(p.model_id) for p in scores))
    team_width = max(len("TEAM"), *(len(p.team_id or "-") for p in scores))
    lines = [
        f"{'MODEL':<{width}}  {'TEAM':<{team_width}}  {'PRS':>4}  {'MIN':>4}  "
        f"{'PARTIAL':<7}  {'INC/30d':>7}  TOP GAP"
    ]
    for p in scores:
        gaps = p.gaps()
        top = f"{gaps[0].title} ({gaps[0].status})" if gaps else "-"
        lines.append(
            f"{p.model_id:<{width}}  {(p.team_id or '-'):<{team_width}}  {percent(p.percent):>4}  "
            f"{percent(p.minimum_percent):>4}  {('yes' if p.partial else 'no'):<7}  "
            f"{p.incidents_30d:>7}  {top}"
        )
    return lines


def breakdown(prs: ModelPRS, *, top: int = 5) -> list[str]:
    incidents = f"{prs.incidents_30d} incident{'s' if prs.incidents_30d != 1 else ''} in 30 days"
    lines = [
        f"{prs.model_id} ({prs.team_id or 'no team'}): {headline(prs)}; {incidents} "
        f"(points {prs.points:g} of {prs.maximum:g})"
    ]
    gaps = prs.gaps()[:top]
    if gaps:
        lines += ["", "Top gaps:"]
        for number, gap in enumerate(gaps, 1):
            lines.append(f"  {number}. {gap.title} [{gap.status}]: {gap.improve}")
    for section in prs.sections:
        partial = ", partial" if section.partial else ""
        lines += [
            "",
            f"{section.title}: {percent(section.percent)} "
            f"({section.points:g} of {section.maximum:g}{partial})",
        ]
        for check in (c for c in prs.checks if c.section == section.id):
            lines.append(
                f"  {MARK[check.status]} {check.title:<42} {check.status:<9} {check.points:g}"
            )
            lines.append(f"      {check.evidence.detail} [{check.evidence.source}]")
    return lines
