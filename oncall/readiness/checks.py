"""The readiness checks: each turns declared facts, live readings or our own history into a
status, the evidence that decided it, and what to do next.

Pure functions of plain values, so every state of every check is tested without a database
or a Prometheus. Thresholds follow the shipped alert rules where one exists (the drift job is
stale after 36 h, a batch job after 26 h).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from oncall.catalog.schema import PracticeRecord, ReadinessSpec
from oncall.readiness.live import BATCH_RULES, DRIFT_RULES, LiveReadings
from oncall.readiness.models import POINTS, CheckResult, CheckStatus, Evidence

SECTIONS: tuple[tuple[str, str], ...] = (
    ("documentation", "Documentation"),
    ("monitoring", "Monitoring"),
    ("observability", "ML observability"),
    ("data", "Data checks"),
    ("testing", "Testing"),
    ("operations", "Operations"),
    ("governance", "Governance and ethics"),
)

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
class _Context:
    facts: ModelFacts
    live: LiveReadings | None
    now: datetime

    @property
    def model(self) -> str:
        return self.facts.model_id

    def declared(self, path: str) -> str:
        return f"oncall.yaml models[{self.model}].readiness.{path}"


def _result(
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


def _ago(then: datetime, now: datetime) -> str:
    seconds = max(0.0, (now - then).total_seconds())
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


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


def _document(key: str, title: str, todo: str) -> Callable[[_Context], CheckResult]:
    def check(ctx: _Context) -> CheckResult:
        value = getattr(ctx.facts.readiness.documentation, key)
        where = ctx.declared(f"documentation.{key}")
        check_id = f"documentation.{key}"
        name = title if title.isupper() else title.lower()
        if isinstance(value, str):
            return _result(
                check_id, title, CheckStatus.automated, Evidence(CATALOG, None, f"{where}: {value}")
            )
        if value is True:
            return _result(
                check_id,
                title,
                CheckStatus.manual,
                Evidence(CATALOG, None, f"{where}: declared, with no link"),
                f"Put the {name}'s link (URL or path in the repository) in {where}, so the "
                "person on call finds it in one click",
            )
        return _result(
            check_id,
            title,
            CheckStatus.missing,
            Evidence(CATALOG, None, f"{where}: not declared"),
            f"{todo}, and link it in {where}",
        )

    return check


# --- live: monitoring and ML observability -----------------------------------------------------


def _no_live(ctx: _Context, check_id: str, title: str) -> CheckResult | None:
    """The unknown result of a live check when Prometheus cannot tell, else None."""
    if ctx.live is None:
        return _result(
            check_id,
            title,
            CheckStatus.unknown,
            Evidence("prometheus", None, "no live evidence: ONCALL_PROMETHEUS_URL is not set"),
            "Set ONCALL_PROMETHEUS_URL to the Prometheus that scrapes the model, so this counts",
        )
    if ctx.live.error is not None:
        return _result(
            check_id,
            title,
            CheckStatus.unknown,
            Evidence(ctx.live.source, ctx.live.at, f"Prometheus did not answer: {ctx.live.error}"),
            "Nothing to do on the model: this counts again once Prometheus answers",
        )
    return None


def _metrics_exported(ctx: _Context) -> CheckResult:
    check_id, title = "monitoring.metrics", "Model exports metrics"
    if (unknown := _no_live(ctx, check_id, title)) is not None:
        return unknown
    assert ctx.live is not None
    series = f'model_predictions_total{{model="{ctx.model}"}}'
    if ctx.model in ctx.live.predictions:
        return _result(
            check_id,
            title,
            CheckStatus.automated,
            Evidence(ctx.live.source, ctx.live.at, f"{series} is scraped"),
        )
    return _result(
        check_id,
        title,
        CheckStatus.missing,
        Evidence(ctx.live.source, ctx.live.at, f"Prometheus has no {series}"),
        f"Count predictions in the serving or scoring code (a prometheus_client Counter "
        f"model_predictions_total with label model={ctx.model}) and let Prometheus scrape it",
    )


def _alerts_routed(ctx: _Context) -> CheckResult:
    check_id, title = "monitoring.alerts", "Alerts for it are routed here"
    if ctx.facts.routed_to is None:
        return _result(
            check_id,
            title,
            CheckStatus.missing,
            Evidence(CATALOG, None, "an alert naming this model would page nobody"),
            f"Give model {ctx.model} a rotation and an escalation_policy in oncall.yaml",
        )
    if (unknown := _no_live(ctx, check_id, title)) is not None:
        return unknown
    live = ctx.live
    assert live is not None
    watching = []
    if ctx.model in live.drift:
        watching += [r for r in DRIFT_RULES if r in live.rules_loaded]
    if ctx.model in live.batch_runs_30d or ctx.model in live.batch_last_success:
        watching += [r for r in BATCH_RULES if r in live.rules_loaded]
    if watching:
        firing = live.firing.get(ctx.model, ())
        now = f"; firing now: {', '.join(firing)}" if firing else ""
        return _result(
            check_id,
            title,
            CheckStatus.automated,
            Evidence(
                live.source,
                live.at,
                f"{', '.join(watching)} watch it and page rotation {ctx.facts.routed_to}{now}",
            ),
        )
    loaded = sorted(set(DRIFT_RULES + BATCH_RULES) & live.rules_loaded)
    why = (
        "the shipped alert rules are not loaded in Prometheus"
        if not loaded
        else "the shipped rules are loaded but it exports neither drift nor batch metrics"
    )
    return _result(
        check_id,
        title,
        CheckStatus.missing,
        Evidence(live.source, live.at, f"no alert rule watches it: {why}"),
        "Load deploy/prometheus/rules into Prometheus (rule_files) and export the model's "
        "drift score or batch runs, so its failures page rotation " + ctx.facts.routed_to,
    )


def _drift_monitored(ctx: _Context) -> CheckResult:
    check_id, title = "observability.drift", "Input drift is monitored"
    if (unknown := _no_live(ctx, check_id, title)) is not None:
        return unknown
    assert ctx.live is not None
    series = f'model_drift_score{{model="{ctx.model}"}}'
    if ctx.model in ctx.live.drift:
        return _result(
            check_id,
            title,
            CheckStatus.automated,
            Evidence(ctx.live.source, ctx.live.at, f"{series} is scraped"),
        )
    return _result(
        check_id,
        title,
        CheckStatus.missing,
        Evidence(ctx.live.source, ctx.live.at, f"Prometheus has no {series}"),
        "Run a drift job (e.g. PSI or KS per feature against the training data) that "
        f"exports model_drift_score{{model={ctx.model},feature=...}}",
    )


def _drift_job_fresh(ctx: _Context) -> CheckResult:
    check_id, title = "observability.drift_job", "The drift job ran in the last 36 h"
    if (unknown := _no_live(ctx, check_id, title)) is not None:
        return unknown
    live = ctx.live
    assert live is not None
    last = live.drift_last_run.get(ctx.model)
    if last is None:
        return _result(
            check_id,
            title,
            CheckStatus.missing,
            Evidence(
                live.source,
                live.at,
                f'Prometheus has no model_drift_last_run_timestamp_seconds{{model="{ctx.model}"}}',
            ),
            "Have the drift job export model_drift_last_run_timestamp_seconds when it finishes, "
            "so a stopped job is noticed",
        )
    ran = datetime.fromtimestamp(last, UTC)
    detail = f"the drift job last finished {_ago(ran, ctx.now)} ({ran:%Y-%m-%d %H:%M} UTC)"
    if ctx.now - ran <= DRIFT_JOB_MAX_AGE:
        return _result(check_id, title, CheckStatus.automated, Evidence(live.source, ran, detail))
    return _result(
        check_id,
        title,
        CheckStatus.failing,
        Evidence(live.source, ran, detail),
        "Restart the drift job and schedule it at least daily: its drift scores are stale",
    )


# --- declared practices: data checks, tests ----------------------------------------------------


def _pushed(check_id: str, title: str, run: PushedRun, ctx: _Context) -> CheckResult:
    at = f" at commit {run.commit}" if run.commit else ""
    detail = f"{run.result}{at}, {run.ran_at:%Y-%m-%d %H:%M} UTC ({_ago(run.ran_at, ctx.now)})"
    if run.detail:
        detail += f": {run.detail}"
    evidence = Evidence(f"pushed by {run.by}", run.ran_at, detail)
    if ctx.now - run.ran_at > PRACTICE_MAX_AGE:
        return _result(
            check_id,
            title,
            CheckStatus.stale,
            evidence,
            "The last recorded run is over 30 days old: run them in CI again and push the "
            "result (`oncall evidence push`)",
        )
    if run.result == "passed":
        return _result(check_id, title, CheckStatus.automated, evidence)
    return _result(
        check_id,
        title,
        CheckStatus.failing,
        evidence,
        "The last CI run failed: fix what fails (or the test, if the test is wrong) and push "
        "the next run",
    )


def _practice(
    check_id: str, title: str, path: str, value: object, todo: str, ctx: _Context
) -> CheckResult:
    run = ctx.facts.runs.get(check_id)
    if run is not None:
        return _pushed(check_id, title, run, ctx)
    where = ctx.declared(path)
    status_text = value.status if isinstance(value, PracticeRecord) else value
    last_run = value.last_run if isinstance(value, PracticeRecord) else None
    at = _midnight(last_run) if last_run else None
    if status_text in (None, "none"):
        return _result(
            check_id,
            title,
            CheckStatus.missing,
            Evidence(CATALOG, None, f"{where}: {'not declared' if value is None else 'none'}"),
            f"{todo}, run them in CI, and declare {where}: automated",
        )
    ran = f", last run {last_run}" if last_run else ""
    if at is not None and ctx.now - at > PRACTICE_MAX_AGE:
        return _result(
            check_id,
            title,
            CheckStatus.stale,
            Evidence(CATALOG, at, f"{where}: {status_text}{ran}, over 30 days ago"),
            f"Run them again and update last_run in {where} (or push it from CI with "
            "`oncall evidence push`)",
        )
    if status_text == "automated":
        return _result(
            check_id,
            title,
            CheckStatus.automated,
            Evidence(CATALOG, at, f"{where}: automated{ran}"),
        )
    return _result(
        check_id,
        title,
        CheckStatus.manual,
        Evidence(CATALOG, at, f"{where}: run by hand{ran}"),
        f"Run them in CI on every change instead of by hand, then declare {where}: automated",
    )


def _data_checks(ctx: _Context) -> CheckResult:
    return _practice(
        "data.validation",
        "Input data is validated",
        "data_checks",
        ctx.facts.readiness.data_checks,
        "Validate the input data before scoring (schema, ranges, nulls, volume)",
        ctx,
    )


def _unit_tests(ctx: _Context) -> CheckResult:
    return _practice(
        "testing.unit",
        "Unit tests",
        "tests.unit",
        ctx.facts.readiness.tests.unit,
        "Write unit tests for the feature code and the model's pre- and post-processing",
        ctx,
    )


def _integration_tests(ctx: _Context) -> CheckResult:
    return _practice(
        "testing.integration",
        "Integration tests",
        "tests.integration",
        ctx.facts.readiness.tests.integration,
        "Write an integration test that runs the pipeline end to end on a small sample",
        ctx,
    )


# --- operations --------------------------------------------------------------------------------


def _retraining(ctx: _Context) -> CheckResult:
    check_id, title = "operations.retraining", "Retraining is scheduled"
    value = ctx.facts.readiness.retraining
    where = ctx.declared("retraining")
    if value in ("scheduled", "automated"):
        return _result(
            check_id, title, CheckStatus.automated, Evidence(CATALOG, None, f"{where}: {value}")
        )
    if value == "manual":
        return _result(
            check_id,
            title,
            CheckStatus.manual,
            Evidence(CATALOG, None, f"{where}: manual"),
            f"Schedule retraining as a job (with its evaluation gate), then declare {where}: "
            "scheduled",
        )
    return _result(
        check_id,
        title,
        CheckStatus.missing,
        Evidence(CATALOG, None, f"{where}: {value or 'not declared'}"),
        "Decide how the model is retrained when its data moves, and schedule it",
    )


def _rollback(ctx: _Context) -> CheckResult:
    check_id, title = "operations.rollback", "Rollback plan"
    value = ctx.facts.readiness.rollback
    where = ctx.declared("rollback")
    if value == "automated":
        return _result(
            check_id, title, CheckStatus.automated, Evidence(CATALOG, None, f"{where}: automated")
        )
    if value == "manual":
        return _result(
            check_id,
            title,
            CheckStatus.manual,
            Evidence(CATALOG, None, f"{where}: written-down steps"),
            "Make rollback one command (keep the previous model version deployable), then "
            f"declare {where}: automated",
        )
    return _result(
        check_id,
        title,
        CheckStatus.missing,
        Evidence(CATALOG, None, f"{where}: {value or 'not declared'}"),
        "Write down how to go back to the previous model version, try it once, and link it "
        "from the runbook",
    )


def _batch_success(ctx: _Context) -> CheckResult:
    check_id, title = "operations.batch", "Batch runs succeed (30 days)"
    declared = ctx.facts.readiness.batch
    if declared is False:
        return _result(
            check_id,
            title,
            CheckStatus.unknown,
            Evidence(CATALOG, None, f"not applicable: {ctx.declared('batch')} is false"),
        )
    if (unknown := _no_live(ctx, check_id, title)) is not None:
        return unknown
    live = ctx.live
    assert live is not None
    runs = live.batch_runs_30d.get(ctx.model)
    rate = runs.success_rate if runs is not None else None
    if runs is not None and rate is not None:
        detail = (
            f"{100 * rate:.0f}% of runs succeeded in 30 days "
            f"({runs.failure:.0f} of about {runs.total:.0f} failed)"
        )
        if rate >= BATCH_SUCCESS_RATE:
            return _result(
                check_id, title, CheckStatus.automated, Evidence(live.source, live.at, detail)
            )
        return _result(
            check_id,
            title,
            CheckStatus.failing,
            Evidence(live.source, live.at, detail),
            "Find why runs fail (the BatchJobFailed RCAs), add retries for transient errors "
            "and input checks for bad data, until 95% of runs succeed",
        )
    last = live.batch_last_success.get(ctx.model)
    if last is not None:
        ok = datetime.fromtimestamp(last, UTC)
        detail = f"no run counts; the last successful run finished {_ago(ok, ctx.now)}"
        if ctx.now - ok <= BATCH_SUCCESS_MAX_AGE:
            return _result(
                check_id, title, CheckStatus.automated, Evidence(live.source, ok, detail)
            )
        return _result(
            check_id,
            title,
            CheckStatus.failing,
            Evidence(live.source, ok, detail),
            "The batch job has not succeeded for over 26 h: fix it, then export "
            "model_batch_runs_total{status} so the success rate is measured",
        )
    if declared:
        return _result(
            check_id,
            title,
            CheckStatus.missing,
            Evidence(live.source, live.at, "declared batch jobs, but none reports its runs"),
            "Have each batch job export model_batch_runs_total{model,job_name,status} (both "
            "statuses from the first run) and model_batch_last_success_timestamp_seconds",
        )
    return _result(
        check_id,
        title,
        CheckStatus.unknown,
        Evidence(
            live.source,
            live.at,
            "not applicable: Prometheus has no batch runs of this model in 30 days",
        ),
        f"If the model has batch jobs, declare {ctx.declared('batch')}: true and export "
        "model_batch_runs_total{model,job_name,status}",
    )


def _rca_follow_through(ctx: _Context) -> CheckResult:
    check_id, title = "operations.rca", "RCA action items closed on time (90 days)"
    due = ctx.facts.action_items_due
    if not due:
        return _result(
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
        return _result(check_id, title, CheckStatus.automated, Evidence("rca", ctx.now, detail))
    if share >= 0.5:
        return _result(
            check_id, title, CheckStatus.manual, Evidence("rca", ctx.now, detail), improve
        )
    return _result(check_id, title, CheckStatus.failing, Evidence("rca", ctx.now, detail), improve)


# --- governance and ethics ---------------------------------------------------------------------


def _dated(
    check_id: str,
    title: str,
    path: str,
    on: date | None,
    by: str | None,
    todo: str,
    ctx: _Context,
) -> CheckResult:
    where = ctx.declared(path)
    if on is None:
        return _result(
            check_id,
            title,
            CheckStatus.missing,
            Evidence(CATALOG, None, f"{where}: not declared"),
            f"{todo}, and record the date in {where}",
        )
    at = _midnight(on)
    who = f" by {by}" if by else ""
    if ctx.now - at > APPROVAL_MAX_AGE:
        return _result(
            check_id,
            title,
            CheckStatus.missing,
            Evidence(CATALOG, at, f"{where}: {on}{who}, older than 12 months"),
            f"Renew it: {todo[0].lower()}{todo[1:]} again, and update {where}",
        )
    return _result(
        check_id, title, CheckStatus.automated, Evidence(CATALOG, at, f"{where}: {on}{who}")
    )


def _approval(ctx: _Context) -> CheckResult:
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


def _ethics(ctx: _Context) -> CheckResult:
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


CHECKS: tuple[Callable[[_Context], CheckResult], ...] = (
    *(_document(key, title, todo) for key, title, todo in _DOCUMENTS),
    _metrics_exported,
    _alerts_routed,
    _drift_monitored,
    _drift_job_fresh,
    _data_checks,
    _unit_tests,
    _integration_tests,
    _retraining,
    _rollback,
    _batch_success,
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
    ctx = _Context(facts, live, now)
    return tuple(check(ctx) for check in CHECKS)
