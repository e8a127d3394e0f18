"""The readiness checks: each turns declared facts, live readings or our own history into a
status, the evidence that decided it, and what to do next.

Pure functions of plain values, so every state of every check is tested without a database
or a Prometheus. This module holds the declared and history checks and the list of all
checks in section order; the live ones are in `live_checks`, what they share in `context`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from oncall.catalog.schema import PracticeRecord
from oncall.readiness import live_checks
from oncall.readiness.context import (
    APPROVAL_MAX_AGE,
    CATALOG,
    PRACTICE_MAX_AGE,
    PUSHABLE_CHECKS,
    RCA_WINDOW,
    ActionItemDue,
    Context,
    ModelFacts,
    PushedRun,
    ago,
    midnight,
    result,
)
from oncall.readiness.live import LiveReadings
from oncall.readiness.models import CheckResult, CheckStatus, Evidence

__all__ = [
    "LIVE_CHECKS",
    "PUSHABLE_CHECKS",
    "RCA_WINDOW",
    "SECTIONS",
    "ActionItemDue",
    "ModelFacts",
    "PushedRun",
    "run_checks",
]

SECTIONS: tuple[tuple[str, str], ...] = (
    ("documentation", "Documentation"),
    ("monitoring", "Monitoring"),
    ("observability", "ML observability"),
    ("data", "Data checks"),
    ("testing", "Testing"),
    ("operations", "Operations"),
    ("governance", "Governance and ethics"),
)

# --- documentation -----------------------------------------------------------------------------

_DOCUMENTS = (
    (
        "readme",
        "README",
        "Write a README for the model (what it predicts, its inputs, who uses it)",
    ),
    (
        "runbook",
        "Runbook",
        "Write a runbook: what each alert means and the first steps at 3 a.m.",
    ),
    (
        "design_doc",
        "Design document",
        "Write down the design: the problem, the data, the model choice and its limits",
    ),
    (
        "model_card",
        "Model card",
        "Write a model card: intended use, training data, evaluation by subgroup, caveats",
    ),
)


def _document(key: str, title: str, todo: str) -> Callable[[Context], CheckResult]:
    def check(ctx: Context) -> CheckResult:
        value = getattr(ctx.facts.readiness.documentation, key)
        where = ctx.declared(f"documentation.{key}")
        check_id = f"documentation.{key}"
        name = title if title.isupper() else title.lower()
        if isinstance(value, str):
            return result(
                check_id, title, CheckStatus.automated, Evidence(CATALOG, None, f"{where}: {value}")
            )
        if value is True:
            return result(
                check_id,
                title,
                CheckStatus.manual,
                Evidence(CATALOG, None, f"{where}: declared, with no link"),
                f"Put the {name}'s link (URL or path in the repository) in {where}, so the "
                "person on call finds it in one click",
            )
        return result(
            check_id,
            title,
            CheckStatus.missing,
            Evidence(CATALOG, None, f"{where}: not declared"),
            f"{todo}, and link it in {where}",
        )

    return check


# --- declared practices: data checks, tests ----------------------------------------------------


def _pushed(check_id: str, title: str, run: PushedRun, ctx: Context) -> CheckResult:
    at = f" at commit {run.commit}" if run.commit else ""
    detail = f"{run.result}{at}, {run.ran_at:%Y-%m-%d %H:%M} UTC ({ago(run.ran_at, ctx.now)})"
    if run.detail:
        detail += f": {run.detail}"
    evidence = Evidence(f"pushed by {run.by}", run.ran_at, detail)
    if ctx.now - run.ran_at > PRACTICE_MAX_AGE:
        return result(
            check_id,
            title,
            CheckStatus.stale,
            evidence,
            "The last recorded run is over 30 days old: run them in CI again and push the "
            "result (`oncall evidence push`)",
        )
    if run.result == "passed":
        return result(check_id, title, CheckStatus.automated, evidence)
    return result(
        check_id,
        title,
        CheckStatus.failing,
        evidence,
        "The last CI run failed: fix what fails (or the test, if the test is wrong) and push "
        "the next run",
    )


def _practice(
    check_id: str, title: str, path: str, value: object, todo: str, ctx: Context
) -> CheckResult:
    run = ctx.facts.runs.get(check_id)
    if run is not None:
        return _pushed(check_id, title, run, ctx)
    where = ctx.declared(path)
    status_text = value.status if isinstance(value, PracticeRecord) else value
    last_run = value.last_run if isinstance(value, PracticeRecord) else None
    at = midnight(last_run) if last_run else None
    if status_text in (None, "none"):
        return result(
            check_id,
            title,
            CheckStatus.missing,
            Evidence(CATALOG, None, f"{where}: {'not declared' if value is None else 'none'}"),
            f"{todo}, run them in CI, and declare {where}: automated",
        )
    ran = f", last run {last_run}" if last_run else ""
    if at is not None and ctx.now - at > PRACTICE_MAX_AGE:
        return result(
            check_id,
            title,
            CheckStatus.stale,
            Evidence(CATALOG, at, f"{where}: {status_text}{ran}, over 30 days ago"),
            f"Run them again and update last_run in {where} (or push it from CI with "
            "`oncall evidence push`)",
        )
    if status_text == "automated":
        return result(
            check_id,
            title,
            CheckStatus.automated,
            Evidence(CATALOG, at, f"{where}: automated{ran}"),
        )
    return result(
        check_id,
        title,
        CheckStatus.manual,
        Evidence(CATALOG, at, f"{where}: run by hand{ran}"),
        f"Run them in CI on every change instead of by hand, then declare {where}: automated",
    )


def _declared_practice(
    check_id: str, title: str, path: str, todo: str
) -> Callable[[Context], CheckResult]:
    """A practice declared at `path` of the model's readiness (`tests.unit`), as a check."""

    def check(ctx: Context) -> CheckResult:
        value: object = ctx.facts.readiness
        for part in path.split("."):
            value = getattr(value, part)
        return _practice(check_id, title, path, value, todo, ctx)

    return check


_PRACTICES = (
    (
        "data.validation",
        "Input data is validated",
        "data_checks",
        "Validate the input data before scoring (schema, ranges, nulls, volume)",
    ),
    (
        "testing.unit",
        "Unit tests",
        "tests.unit",
        "Write unit tests for the feature code and the model's pre- and post-processing",
    ),
    (
        "testing.integration",
        "Integration tests",
        "tests.integration",
        "Write an integration test that runs the pipeline end to end on a small sample",
    ),
)


# --- operations --------------------------------------------------------------------------------


def _retraining(ctx: Context) -> CheckResult:
    check_id, title = "operations.retraining", "Retraining is scheduled"
    value = ctx.facts.readiness.retraining
    where = ctx.declared("retraining")
    if value in ("scheduled", "automated"):
        return result(
            check_id, title, CheckStatus.automated, Evidence(CATALOG, None, f"{where}: {value}")
        )
    if value == "manual":
        return result(
            check_id,
            title,
            CheckStatus.manual,
            Evidence(CATALOG, None, f"{where}: manual"),
            f"Schedule retraining as a job (with its evaluation gate), then declare {where}: "
            "scheduled",
        )
    return result(
        check_id,
        title,
        CheckStatus.missing,
        Evidence(CATALOG, None, f"{where}: {value or 'not declared'}"),
        "Decide how the model is retrained when its data moves, and schedule it",
    )


def _rollback(ctx: Context) -> CheckResult:
    check_id, title = "operations.rollback", "Rollback plan"
    value = ctx.facts.readiness.rollback
    where = ctx.declared("rollback")
    if value == "automated":
        return result(
            check_id, title, CheckStatus.automated, Evidence(CATALOG, None, f"{where}: automated")
        )
    if value == "manual":
        return result(
            check_id,
            title,
            CheckStatus.manual,
            Evidence(CATALOG, None, f"{where}: written-down steps"),
            "Make rollback one command (keep the previous model version deployable), then "
            f"declare {where}: automated",
        )
    return result(
        check_id,
        title,
        CheckStatus.missing,
        Evidence(CATALOG, None, f"{where}: {value or 'not declared'}"),
        "Write down how to go back to the previous model version, try it once, and link it "
        "from the runbook",
    )


def _rca_follow_through(ctx: Context) -> CheckResult:
    check_id, title = "operations.rca", "RCA action items closed on time (90 days)"
    due = ctx.facts.action_items_due
    if not due:
        return result(
            check_id,
            title,
            CheckStatus.unknown,
            Evidence(
                "rca",
                ctx.now,
                "not applicable: no RCA action item of this model fell due in 90 days",
            ),
        )
    on_time = sum(1 for item in due if item.on_time())
    share = on_time / len(due)
    late = [f"#{i.incident_id}.{i.number}" for i in due if not i.on_time()]
    detail = f"{on_time} of {len(due)} action items due in 90 days were done by their due date"
    if late:
        detail += f"; late or open: {', '.join(late[:5])}{' …' if len(late) > 5 else ''}"
    improve = (
        "Close the open RCA action items (`oncall rca action done ID N`), and give new ones "
        "due dates the team can keep"
    )
    if share >= 1.0:
        return result(check_id, title, CheckStatus.automated, Evidence("rca", ctx.now, detail))
    if share >= 0.5:
        return result(
            check_id, title, CheckStatus.manual, Evidence("rca", ctx.now, detail), improve
        )
    return result(check_id, title, CheckStatus.failing, Evidence("rca", ctx.now, detail), improve)


# --- governance and ethics ---------------------------------------------------------------------


def _dated(
    check_id: str,
    title: str,
    path: str,
    on: date | None,
    by: str | None,
    todo: str,
    ctx: Context,
) -> CheckResult:
    where = ctx.declared(path)
    if on is None:
        return result(
            check_id,
            title,
            CheckStatus.missing,
            Evidence(CATALOG, None, f"{where}: not declared"),
            f"{todo}, and record the date in {where}",
        )
    at = midnight(on)
    who = f" by {by}" if by else ""
    if ctx.now - at > APPROVAL_MAX_AGE:
        return result(
            check_id,
            title,
            CheckStatus.missing,
            Evidence(CATALOG, at, f"{where}: {on}{who}, older than 12 months"),
            f"Renew it: {todo[0].lower()}{todo[1:]} again, and update {where}",
        )
    return result(
        check_id, title, CheckStatus.automated, Evidence(CATALOG, at, f"{where}: {on}{who}")
    )


def _approval(ctx: Context) -> CheckResult:
    spec = ctx.facts.readiness.governance
    return _dated(
        "governance.approval",
        "Approved for production (12 months)",
        "governance.approved_on",
        spec.approved_on,
        spec.approved_by,
        "Get the model's production use approved by its owner and risk reviewer",
        ctx,
    )


def _ethics(ctx: Context) -> CheckResult:
    spec = ctx.facts.readiness.ethics
    return _dated(
        "governance.ethics",
        "Ethics and fairness review (12 months)",
        "ethics.reviewed_on",
        spec.reviewed_on,
        spec.reviewed_by,
        "Review who the model affects and how it does across groups",
        ctx,
    )


CHECKS: tuple[Callable[[Context], CheckResult], ...] = (
    *(_document(key, title, todo) for key, title, todo in _DOCUMENTS),
    live_checks.metrics_exported,
    live_checks.alerts_routed,
    live_checks.drift_monitored,
    live_checks.drift_job_fresh,
    *(_declared_practice(*practice) for practice in _PRACTICES),
    _retraining,
    _rollback,
    live_checks.batch_success,
    _rca_follow_through,
    _approval,
    _ethics,
)

LIVE_CHECKS = frozenset(
    {
        "monitoring.metrics",
        "monitoring.alerts",
        "observability.drift",
        "observability.drift_job",
        "operations.batch",
    }
)


def run_checks(
    facts: ModelFacts, *, live: LiveReadings | None, now: datetime
) -> tuple[CheckResult, ...]:
    """Every check of one model, in section order."""
    ctx = Context(facts, live, now)
    return tuple(check(ctx) for check in CHECKS)
