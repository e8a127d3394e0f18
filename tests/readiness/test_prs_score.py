"""The score's arithmetic: automated 1, manual ½, missing/failing 0, unknown/stale left out."""

from __future__ import annotations

from datetime import UTC, datetime

from oncall.readiness.models import POINTS, CheckResult, CheckStatus, Evidence, ModelPRS, score

NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
SECTIONS = (("a", "Section A"), ("b", "Section B"), ("c", "Section C"))


def result(check_id: str, status: CheckStatus) -> CheckResult:
    points = POINTS[status]
    return CheckResult(
        id=check_id,
        section=check_id.split(".")[0],
        title=check_id,
        status=status,
        points=points or 0.0,
        maximum=0.0 if points is None else 1.0,
        evidence=Evidence("catalog", None, "test"),
        improve="" if status is CheckStatus.automated else "do it",
    )


def prs(*checks: CheckResult) -> ModelPRS:
    return score(
        model_id="m",
        team_id="t",
        at=NOW,
        checks=checks,
        sections=SECTIONS,
        live=False,
        incidents_30d=3,
    )


def test_manual_counts_half_automated_one_and_the_minimum_section_is_beside_it() -> None:
    found = prs(
        result("a.1", CheckStatus.automated),
        result("a.2", CheckStatus.manual),
        result("b.1", CheckStatus.missing),
        result("b.2", CheckStatus.failing),
        result("c.1", CheckStatus.automated),
    )
    assert (found.points, found.maximum) == (2.5, 5.0)
    assert found.percent == 50.0
    assert [(s.id, s.percent) for s in found.sections] == [("a", 75.0), ("b", 0.0), ("c", 100.0)]
    assert found.minimum_percent == 0.0
    assert not found.partial


def test_unknown_and_stale_are_left_out_of_the_maximum_and_mark_the_score_partial() -> None:
    found = prs(
        result("a.1", CheckStatus.automated),
        result("a.2", CheckStatus.unknown),
        result("b.1", CheckStatus.manual),
        result("b.2", CheckStatus.stale),
    )
    assert (found.points, found.maximum) == (1.5, 2.0)
    assert found.percent == 75.0  # not 37.5: what cannot be told is not scored as 0
    assert found.partial
    a, b, c = found.sections
    assert (a.percent, a.partial, b.percent, b.partial) == (100.0, True, 50.0, True)
    assert c.percent is None and not c.partial  # a section without checks is not the minimum
    assert found.minimum_percent == 50.0


def test_nothing_known_is_no_score_rather_than_zero() -> None:
    found = prs(result("a.1", CheckStatus.unknown), result("b.1", CheckStatus.stale))
    assert found.percent is None and found.minimum_percent is None and found.partial


def test_gaps_put_failing_then_missing_then_manual_and_leave_out_the_rest() -> None:
    found = prs(
        result("a.1", CheckStatus.manual),
        result("a.2", CheckStatus.automated),
        result("a.3", CheckStatus.missing),
        result("b.1", CheckStatus.failing),
        result("b.2", CheckStatus.unknown),
        result("c.1", CheckStatus.missing),
        result("c.2", CheckStatus.stale),
    )
    assert [(g.id, g.at_stake) for g in found.gaps()] == [
        ("b.1", 1.0),
        ("a.3", 1.0),
        ("c.1", 1.0),
        ("a.1", 0.5),
    ]


def test_a_score_survives_the_round_trip_through_json() -> None:
    found = prs(result("a.1", CheckStatus.manual), result("b.1", CheckStatus.unknown))
    again = ModelPRS.from_dict(found.to_dict())
    assert again == found
    assert found.to_dict()["gaps"] == ["a.1"]
    assert found.to_dict()["incidents_30d"] == 3
