"""Every readiness check in each of its states, from declared facts and live readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oncall.catalog.schema import ReadinessSpec
from oncall.readiness.checks import ActionItemDue, ModelFacts, run_checks
from oncall.readiness.live import BatchRuns, LiveReadings
from oncall.readiness.models import CheckResult, CheckStatus

NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
PROM = "http://prometheus.test:9090"
A, M, MISSING, F, U, S = (
    CheckStatus.automated,
    CheckStatus.manual,
    CheckStatus.missing,
    CheckStatus.failing,
    CheckStatus.unknown,
    CheckStatus.stale,
)


def readings(**values: Any) -> LiveReadings:
    return LiveReadings(source=PROM, at=NOW, **values)


def check(
    check_id: str,
    readiness: dict[str, Any] | None = None,
    *,
    live: LiveReadings | None = None,
    routed_to: str | None = "growth-primary",
    due: tuple[ActionItemDue, ...] = (),
    model: str = "churn",
) -> CheckResult:
    facts = ModelFacts(
        model_id=model,
        team_id="growth-ds",
        readiness=ReadinessSpec.model_validate(readiness or {}),
        routed_to=routed_to,
        action_items_due=due,
    )
    found = {c.id: c for c in run_checks(facts, live=live, now=NOW)}
    return found[check_id]


def assert_scored(result: CheckResult, status: CheckStatus) -> None:
    assert result.status is status, result
    expected = {A: (1.0, 1.0), M: (0.5, 1.0), MISSING: (0.0, 1.0), F: (0.0, 1.0)}
    assert (result.points, result.maximum) == expected.get(status, (0.0, 0.0))
    # Every check that is not fully done says what to do, in words; a done one says nothing.
    assert bool(result.improve) is (status in (M, MISSING, F)) or status in (U, S)


def test_every_check_of_a_model_belongs_to_a_section_in_section_order() -> None:
    facts = ModelFacts("churn", "growth-ds", ReadinessSpec(), routed_to=None)
    checks = run_checks(facts, live=None, now=NOW)
    sections = [c.section for c in checks]
    assert sections == sorted(sections, key=sections.index)  # grouped
    assert set(sections) == {
        "documentation",
        "monitoring",
        "observability",
        "data",
        "testing",
        "operations",
        "governance",
    }
    assert len({c.id for c in checks}) == len(checks) == 17


# --- documentation -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["readme", "runbook", "design_doc", "model_card"])
@pytest.mark.parametrize(
    ("declared", "status"),
    [("https://wiki.example.com/doc", A), ("docs/model.md", A), (True, M), (False, MISSING)],
)
def test_a_linked_document_counts_fully_a_declared_one_half(
    key: str, declared: object, status: CheckStatus
) -> None:
    result = check(f"documentation.{key}", {"documentation": {key: declared}})
    assert_scored(result, status)
    assert result.evidence.source == "catalog"
    assert f"readiness.documentation.{key}" in result.evidence.detail


def test_an_undeclared_document_is_missing_and_says_what_to_write() -> None:
    result = check("documentation.model_card")
    assert_scored(result, MISSING)
    assert "model card" in result.improve and "intended use" in result.improve


# --- declared practices ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check_id", "path"),
    [
        ("testing.unit", ("tests", "unit")),
        ("testing.integration", ("tests", "integration")),
        ("data.validation", ("data_checks",)),
    ],
)
@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("automated", A),
        ("manual", M),
        ("none", MISSING),
        (None, MISSING),
        ({"status": "automated", "last_run": "2026-02-20"}, A),
        ({"status": "manual", "last_run": "2026-02-20"}, M),
        ({"status": "automated", "last_run": "2026-01-10"}, S),  # 52 days before NOW
    ],
)
def test_practices_count_by_how_they_run_and_go_stale_after_30_days(
    check_id: str, path: tuple[str, ...], value: object, status: CheckStatus
) -> None:
    declared: dict[str, Any] = {}
    if value is not None:
        declared = {path[0]: {path[1]: value}} if len(path) == 2 else {path[0]: value}
    result = check(check_id, declared)
    assert_scored(result, status)
    if status is S:
        assert "over 30 days ago" in result.evidence.detail
        assert result.evidence.at == datetime(2026, 1, 10, tzinfo=UTC)


def test_integration_tests_run_by_hand_say_to_run_them_in_ci() -> None:
    result = check("testing.integration", {"tests": {"integration": "manual"}})
    assert "in CI" in result.improve


# --- operations (declared) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "status"),
    [("scheduled", A), ("automated", A), ("manual", M), ("none", MISSING), (None, MISSING)],
)
def test_retraining(value: str | None, status: CheckStatus) -> None:
    assert_scored(check("operations.retraining", {"retraining": value} if value else {}), status)


@pytest.mark.parametrize(
    ("value", "status"), [("automated", A), ("manual", M), ("none", MISSING), (None, MISSING)]
)
def test_rollback_plan(value: str | None, status: CheckStatus) -> None:
    assert_scored(check("operations.rollback", {"rollback": value} if value else {}), status)


# --- governance and ethics ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check_id", "section", "field"),
    [
        ("governance.approval", "governance", "approved_on"),
        ("governance.ethics", "ethics", "reviewed_on"),
    ],
)
@pytest.mark.parametrize(
    ("day", "status"),
    [
        ("2026-02-01", A),
        ("2025-03-04", A),  # 364 days before NOW's day
        ("2025-03-01", MISSING),  # over 12 months: counts as missing, not as stale
        (None, MISSING),
    ],
)
def test_approvals_and_reviews_count_only_when_younger_than_12_months(
    check_id: str, section: str, field: str, day: str | None, status: CheckStatus
) -> None:
    result = check(check_id, {section: {field: day}} if day else {})
    assert_scored(result, status)
    if day == "2025-03-01":
        assert "older than 12 months" in result.evidence.detail
        assert result.improve.startswith("Renew it")


def test_an_approval_names_who_approved() -> None:
    result = check(
        "governance.approval", {"governance": {"approved_on": "2026-02-01", "approved_by": "emily"}}
    )
    assert "2026-02-01 by emily" in result.evidence.detail


# --- live checks -------------------------------------------------------------------------------

LIVE_CHECKS = [
    "monitoring.metrics",
    "monitoring.alerts",
    "observability.drift",
    "observability.drift_job",
    "operations.batch",
]


@pytest.mark.parametrize("check_id", LIVE_CHECKS)
def test_live_checks_are_unknown_without_prometheus_and_say_why(check_id: str) -> None:
    result = check(check_id, live=None)
    assert_scored(result, U)
    assert "ONCALL_PROMETHEUS_URL is not set" in result.evidence.detail


@pytest.mark.parametrize("check_id", LIVE_CHECKS)
def test_live_checks_are_unknown_when_prometheus_does_not_answer(check_id: str) -> None:
    result = check(check_id, live=readings(error="ConnectionError: refused"))
    assert_scored(result, U)
    assert result.evidence.source == PROM and result.evidence.at == NOW
    assert "did not answer: ConnectionError: refused" in result.evidence.detail


def test_model_exports_metrics() -> None:
    assert_scored(check("monitoring.metrics", live=readings(predictions=frozenset({"churn"}))), A)
    result = check("monitoring.metrics", live=readings(predictions=frozenset({"ltv"})))
    assert_scored(result, MISSING)
    assert 'model_predictions_total{model="churn"}' in result.evidence.detail


def test_drift_monitored() -> None:
    assert_scored(check("observability.drift", live=readings(drift=frozenset({"churn"}))), A)
    assert_scored(check("observability.drift", live=readings()), MISSING)


@pytest.mark.parametrize(("hours_ago", "status"), [(1, A), (35.9, A), (36.1, F), (None, MISSING)])
def test_drift_job_fresh_within_36_hours(hours_ago: float | None, status: CheckStatus) -> None:
    last = {} if hours_ago is None else {"churn": (NOW - timedelta(hours=hours_ago)).timestamp()}
    result = check("observability.drift_job", live=readings(drift_last_run=last))
    assert_scored(result, status)
    if status is F:
        assert "36 h ago" in result.evidence.detail
        assert result.evidence.at == NOW - timedelta(hours=hours_ago or 0)


def test_alerts_routed_here_when_a_loaded_shipped_rule_watches_the_model() -> None:
    live = readings(
        drift=frozenset({"churn"}),
        rules_loaded=frozenset({"ModelDriftHigh", "ModelDriftJobStale", "BatchJobFailed"}),
        firing={"churn": ("ModelDriftHigh",)},
    )
    result = check("monitoring.alerts", live=live)
    assert_scored(result, A)
    assert "ModelDriftHigh, ModelDriftJobStale watch it" in result.evidence.detail
    assert "rotation growth-primary" in result.evidence.detail
    assert "firing now: ModelDriftHigh" in result.evidence.detail


def test_alerts_are_missing_when_the_rules_are_not_loaded_or_watch_nothing_of_it() -> None:
    not_loaded = check("monitoring.alerts", live=readings(drift=frozenset({"churn"})))
    assert_scored(not_loaded, MISSING)
    assert "not loaded" in not_loaded.evidence.detail
    assert "deploy/prometheus/rules" in not_loaded.improve
    nothing_watched = check(
        "monitoring.alerts",
        live=readings(predictions=frozenset({"churn"}), rules_loaded=frozenset({"BatchJobFailed"})),
    )
    assert_scored(nothing_watched, MISSING)
    assert "neither drift nor batch" in nothing_watched.evidence.detail


def test_alerts_that_would_page_nobody_are_missing_even_without_prometheus() -> None:
    result = check("monitoring.alerts", live=None, routed_to=None)
    assert_scored(result, MISSING)
    assert "rotation and an escalation_policy" in result.improve


@pytest.mark.parametrize(
    ("success", "failure", "status"), [(95, 5, A), (100, 0, A), (94, 6, F), (1, 9, F)]
)
def test_batch_success_rate_over_30_days(
    success: float, failure: float, status: CheckStatus
) -> None:
    live = readings(batch_runs_30d={"churn": BatchRuns(success, failure)})
    result = check("operations.batch", live=live)
    assert_scored(result, status)
    assert f"{100 * success / (success + failure):.0f}% of runs succeeded" in result.evidence.detail


@pytest.mark.parametrize(("hours_ago", "status"), [(2, A), (27, F)])
def test_batch_without_run_counts_falls_back_to_the_last_success(
    hours_ago: float, status: CheckStatus
) -> None:
    last = {"churn": (NOW - timedelta(hours=hours_ago)).timestamp()}
    assert_scored(check("operations.batch", live=readings(batch_last_success=last)), status)


def test_batch_declared_but_unreported_is_missing_and_not_applicable_otherwise() -> None:
    assert_scored(check("operations.batch", {"batch": True}, live=readings()), MISSING)
    undeclared = check("operations.batch", live=readings())
    assert_scored(undeclared, U)
    assert undeclared.evidence.detail.startswith("not applicable")
    online = check("operations.batch", {"batch": False}, live=None)
    assert_scored(online, U)
    assert "not applicable" in online.evidence.detail and "batch is false" in online.evidence.detail


# --- RCA follow-through ------------------------------------------------------------------------


def item(number: int, due_days_ago: float, done_days_ago: float | None) -> ActionItemDue:
    done = None if done_days_ago is None else NOW - timedelta(days=done_days_ago)
    return ActionItemDue(7, number, NOW - timedelta(days=due_days_ago), done)


def test_rca_follow_through_without_items_due_is_not_applicable() -> None:
    result = check("operations.rca")
    assert_scored(result, U)
    assert result.evidence.detail.startswith("not applicable: no RCA action item")


@pytest.mark.parametrize(
    ("due", "status"),
    [
        ((item(1, 10, 12), item(2, 5, 5)), A),  # both done by their due date
        ((item(1, 10, 12), item(2, 5, 1)), M),  # one of two done late
        ((item(1, 10, 12), item(2, 5, None)), M),  # one still open
        ((item(1, 10, 1), item(2, 5, None), item(3, 2, 3)), F),  # one of three on time
    ],
)
def test_rca_follow_through_counts_items_closed_by_their_due_date(
    due: tuple[ActionItemDue, ...], status: CheckStatus
) -> None:
    result = check("operations.rca", due=due)
    assert_scored(result, status)
    on_time = sum(i.on_time() for i in due)
    assert f"{on_time} of {len(due)} action items" in result.evidence.detail
    if status is not A:
        assert "#7.2" in result.evidence.detail  # the late or open one is named
