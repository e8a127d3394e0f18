"""The live checks: what Prometheus says about a model (metrics, alert rules, drift, batch runs).

When Prometheus is not configured or does not answer, each of them is `unknown` with the
reason, so the score is partial and never counts them as 0.
"""

from __future__ import annotations

from datetime import UTC, datetime

from oncall.readiness.context import (
    BATCH_SUCCESS_MAX_AGE,
    BATCH_SUCCESS_RATE,
    CATALOG,
    DRIFT_JOB_MAX_AGE,
    Context,
    ago,
    result,
)
from oncall.readiness.live import BATCH_RULES, DRIFT_RULES
from oncall.readiness.models import CheckResult, CheckStatus, Evidence


def _no_live(ctx: Context, check_id: str, title: str) -> CheckResult | None:
    """The unknown result of a live check when Prometheus cannot tell, else None."""
    if ctx.live is None:
        return result(
            check_id,
            title,
            CheckStatus.unknown,
            Evidence("prometheus", None, "no live evidence: ONCALL_PROMETHEUS_URL is not set"),
            "Set ONCALL_PROMETHEUS_URL to the Prometheus that scrapes the model, so this counts",
        )
    if ctx.live.error is not None:
        return result(
            check_id,
            title,
            CheckStatus.unknown,
            Evidence(ctx.live.source, ctx.live.at, f"Prometheus did not answer: {ctx.live.error}"),
            "Nothing to do on the model: this counts again once Prometheus answers",
        )
    return None


def _scraped(
    ctx: Context, check_id: str, title: str, metric: str, exported: bool, fix: str
) -> CheckResult:
    """Whether Prometheus scrapes the model's `metric`: automated, or missing with `fix`."""
    if (unknown := _no_live(ctx, check_id, title)) is not None:
        return unknown
    assert ctx.live is not None
    series = f'{metric}{{model="{ctx.model}"}}'
    if exported:
        return result(
            check_id,
            title,
            CheckStatus.automated,
            Evidence(ctx.live.source, ctx.live.at, f"{series} is scraped"),
        )
    return result(
        check_id,
        title,
        CheckStatus.missing,
        Evidence(ctx.live.source, ctx.live.at, f"Prometheus has no {series}"),
        fix,
    )


def metrics_exported(ctx: Context) -> CheckResult:
    return _scraped(
        ctx,
        "monitoring.metrics",
        "Model exports metrics",
        "model_predictions_total",
        ctx.live is not None and ctx.model in ctx.live.predictions,
        f"Count predictions in the serving or scoring code (a prometheus_client Counter "
        f"model_predictions_total with label model={ctx.model}) and let Prometheus scrape it",
    )


def alerts_routed(ctx: Context) -> CheckResult:
    check_id, title = "monitoring.alerts", "Alerts for it are routed here"
    if ctx.facts.routed_to is None:
        return result(
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
        return result(
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
    return result(
        check_id,
        title,
        CheckStatus.missing,
        Evidence(live.source, live.at, f"no alert rule watches it: {why}"),
        "Load deploy/prometheus/rules into Prometheus (rule_files) and export the model's "
        "drift score or batch runs, so its failures page rotation " + ctx.facts.routed_to,
    )


def drift_monitored(ctx: Context) -> CheckResult:
    return _scraped(
        ctx,
        "observability.drift",
        "Input drift is monitored",
        "model_drift_score",
        ctx.live is not None and ctx.model in ctx.live.drift,
        "Run a drift job (e.g. PSI or KS per feature against the training data) that "
        f"exports model_drift_score{{model={ctx.model},feature=...}}",
    )


def drift_job_fresh(ctx: Context) -> CheckResult:
    check_id, title = "observability.drift_job", "The drift job ran in the last 36 h"
    if (unknown := _no_live(ctx, check_id, title)) is not None:
        return unknown
    live = ctx.live
    assert live is not None
    last = live.drift_last_run.get(ctx.model)
    if last is None:
        return result(
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
    detail = f"the drift job last finished {ago(ran, ctx.now)} ({ran:%Y-%m-%d %H:%M} UTC)"
    if ctx.now - ran <= DRIFT_JOB_MAX_AGE:
        return result(check_id, title, CheckStatus.automated, Evidence(live.source, ran, detail))
    return result(
        check_id,
        title,
        CheckStatus.failing,
        Evidence(live.source, ran, detail),
        "Restart the drift job and schedule it at least daily: its drift scores are stale",
    )


def batch_success(ctx: Context) -> CheckResult:
    check_id, title = "operations.batch", "Batch runs succeed (30 days)"
    declared = ctx.facts.readiness.batch
    if declared is False:
        return result(
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
            return result(
                check_id, title, CheckStatus.automated, Evidence(live.source, live.at, detail)
            )
        return result(
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
        detail = f"no run counts; the last successful run finished {ago(ok, ctx.now)}"
        if ctx.now - ok <= BATCH_SUCCESS_MAX_AGE:
            return result(check_id, title, CheckStatus.automated, Evidence(live.source, ok, detail))
        return result(
            check_id,
            title,
            CheckStatus.failing,
            Evidence(live.source, ok, detail),
            "The batch job has not succeeded for over 26 h: fix it, then export "
            "model_batch_runs_total{status} so the success rate is measured",
        )
    if declared:
        return result(
            check_id,
            title,
            CheckStatus.missing,
            Evidence(live.source, live.at, "declared batch jobs, but none reports its runs"),
            "Have each batch job export model_batch_runs_total{model,job_name,status} (both "
            "statuses from the first run) and model_batch_last_success_timestamp_seconds",
        )
    return result(
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
