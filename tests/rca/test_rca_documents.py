"""RCA documents drafted from real Alertmanager incidents: their sections, the PRS at the time
and its gaps as action items, related incidents, regeneration that keeps what people wrote."""

from __future__ import annotations

from datetime import timedelta

from rca_helpers import (
    PUBLIC,
    T0,
    ack,
    ingest,
    outbox_rows,
    provider,
    rca,
    resolve,
    score,
)
from sqlalchemy.engine import Engine
from sqlmodel import Session

from oncall.outbox import MessageKind
from oncall.rca import service
from oncall.rca.content import NO_PRS
from oncall.rca.models import RcaPatch

CHURN_PRS = score(
    "churn",
    T0 - timedelta(hours=6),
    {
        "documentation.readme": "automated",
        "documentation.runbook": "automated",
        "testing.unit": "automated",
        "testing.integration": "manual",
        "operations.rollback_plan": "missing",
        "observability.drift_job_fresh": "unknown",
    },
)

SECTIONS = [
    "## Summary",
    "## Impact",
    "## Detection",
    "## Timeline",
    "## Trigger and resolution",
    "## Alerts",
    "## Readiness (PRS) at the time",
    "## Action items",
    "## Runbooks",
    "## Related past incidents",
    "## Root cause",
    "## Contributing factors",
    "## What went well",
    "## What went wrong",
    "## Where we got lucky",
]


def drift_incident(engine: Engine) -> int:
    """Story 1: churn drifts, Taka acknowledges after 3 minutes, the drift clears at +40 min."""
    incident_id = ingest(engine, "drift-firing", T0)
    ack(engine, incident_id, "taka", T0 + timedelta(minutes=3))
    ingest(engine, "drift-resolved", T0 + timedelta(minutes=40))
    return incident_id


def test_draft_of_a_resolved_drift_incident_has_every_section_in_order(catalog: Engine) -> None:
    incident_id = drift_incident(catalog)

    markdown = rca(
        catalog, incident_id, T0 + timedelta(hours=1), provider(CHURN_PRS)
    ).document.markdown

    positions = [markdown.index(heading) for heading in SECTIONS]
    assert positions == sorted(positions)
    assert markdown.startswith("# RCA: incident #1: Drift score 0.9 for model churn")
    # Impact: duration, alerts, the model and what it is.
    assert "- Duration: 40 min (triggered 2026-03-03 15:00:00 UTC" in markdown
    assert "- Alerts: 1 (0 still firing): ModelDriftHigh" in markdown
    assert (
        "- Model: Churn predictor, which serves: churn-risk scores for the retention team's "
        "weekly campaigns"
    ) in markdown
    # Detection: time to acknowledge, who was on call, how they were reached.
    assert "- Time to acknowledge: 3 min (by taka)" in markdown
    assert "- On call: taka (rotation growth-primary)" in markdown
    assert "- Paged through PagerDuty: no" in markdown
    assert "step 1: mentioned taka in the incident message" in markdown
    # Timeline rows from the incident's events, in order.
    timeline = markdown.split("## Timeline", 1)[1].split("## Trigger", 1)[0]
    kinds = [row.split("|")[2].strip() for row in timeline.splitlines() if row.startswith("| 2026")]
    assert kinds == ["triggered", "escalated", "acknowledged", "alert_resolved", "resolved"]
    assert "- Resolved: 2026-03-03 15:40:00 UTC by alertmanager" in markdown
    # The alerts table with labels and the (http) source link.
    assert "model=churn" in markdown and "severity=warning" in markdown
    assert "[source](http://127.0.0.1:19090/graph?" in markdown
    # The catalog's runbook, resolved against the public URL.
    assert f"- [churn runbook]({PUBLIC}/runbooks/model-drift.md)" in markdown


def test_prs_at_the_time_is_shown_with_its_breakdown_and_gaps_become_action_items(
    catalog: Engine,
) -> None:
    incident_id = drift_incident(catalog)
    drafted_at = T0 + timedelta(hours=1)

    result = rca(catalog, incident_id, drafted_at, provider(CHURN_PRS))

    markdown = result.document.markdown
    prs = markdown.split("## Readiness (PRS) at the time", 1)[1].split("## Action items", 1)[0]
    assert "churn: **70%** (partial: some evidence was unknown or stale)" in prs
    assert "minimum over sections 0%; snapshot of 2026-03-03 09:00:00 UTC" in prs
    assert "| Testing | 1.5 / 2 | 75% |" in prs
    assert "| Operations | 0 / 1 | 0% |" in prs
    assert "| Testing: integration | manual | 0.5 / 1 | declared manual (catalog," in prs
    # Gaps, missing first then manual: owned by the team's lead, due 30 days out (warning).
    assert result.new_items == 2
    with Session(catalog) as s:
        items = service.action_items_of(session=s, incident_id=incident_id)
    assert [(i.number, i.check_id, i.owner_id, i.status) for i in items] == [
        (1, "operations.rollback_plan", "emily", "open"),
        (2, "testing.integration", "emily", "open"),
    ]
    assert all(i.due_at == drafted_at + timedelta(days=30) for i in items)
    assert all(i.model_id == "churn" for i in items)
    assert "| 1 | Operations: rollback plan: make rollback plan automated | emily | 2026-04-02" in (
        markdown
    )


def test_due_dates_follow_the_incident_severity(catalog: Engine) -> None:
    incident_id = ingest(catalog, "drift-firing", T0, severity="critical")
    gaps = score("churn", T0, {"monitoring.alerts_routed": "missing"})

    rca(catalog, incident_id, T0, provider(gaps))

    with Session(catalog) as s:
        [item] = service.action_items_of(session=s, incident_id=incident_id)
    assert item.due_at == T0 + timedelta(days=7)
    assert service.due_for("error", proposed=T0) == T0 + timedelta(days=14)
    assert service.due_for("info", proposed=T0) == T0 + timedelta(days=60)


def test_a_model_with_no_score_says_so_and_proposes_nothing(catalog: Engine) -> None:
    incident_id = drift_incident(catalog)

    result = rca(catalog, incident_id, T0 + timedelta(hours=1), provider(None))

    assert f"## Readiness (PRS) at the time\n\n{NO_PRS}." in result.document.markdown
    assert result.new_items == 0
    with Session(catalog) as s:
        assert service.action_items_of(session=s, incident_id=incident_id) == []


def test_regenerating_keeps_what_people_wrote_and_the_items_status(catalog: Engine) -> None:
    incident_id = drift_incident(catalog)
    rca(catalog, incident_id, T0 + timedelta(hours=1), provider(CHURN_PRS))
    with Session(catalog) as s:
        service.update(
            session=s,
            incident_id=incident_id,
            patch=RcaPatch(
                status="in_review",
                root_cause="The upstream feature store switched currencies without notice.",
                went_well="Acknowledged in 3 minutes.",
                action_items=[{"number": 2, "status": "done"}],
            ),
            now=T0 + timedelta(hours=2),
        )
        s.commit()
    # A day later the score has a new gap; regenerate.
    worse = score(
        "churn",
        T0 - timedelta(hours=6),
        {**{c.id: c.status for c in CHURN_PRS.checks}, "data_checks.schema": "missing"},
    )

    result = rca(catalog, incident_id, T0 + timedelta(days=1), provider(worse))

    document = result.document
    assert not result.created
    assert document.status == "in_review"
    assert document.root_cause == "The upstream feature store switched currencies without notice."
    assert document.sections == {"went_well": "Acknowledged in 3 minutes."}
    assert "The upstream feature store switched currencies without notice\\." not in (
        document.markdown
    )  # plain text, only Markdown syntax is escaped
    assert "The upstream feature store switched currencies without notice." in document.markdown
    assert "Acknowledged in 3 minutes." in document.markdown
    with Session(catalog) as s:
        items = service.action_items_of(session=s, incident_id=incident_id)
    assert [(i.number, i.check_id, i.status) for i in items] == [
        (1, "operations.rollback_plan", "open"),
        (2, "testing.integration", "done"),
        (3, "data_checks.schema", "open"),
    ]
    assert items[1].done_at == T0 + timedelta(hours=2)
    assert items[2].due_at == T0 + timedelta(days=31)


def test_the_thread_gets_the_link_and_the_message_its_button_once(catalog: Engine) -> None:
    incident_id = drift_incident(catalog)
    before = {r.id for r in outbox_rows(catalog, incident_id)}

    rca(catalog, incident_id, T0 + timedelta(hours=1), provider(CHURN_PRS))
    rca(catalog, incident_id, T0 + timedelta(hours=2), provider(CHURN_PRS))

    new = [r for r in outbox_rows(catalog, incident_id) if r.id not in before]
    assert [(r.channel, r.kind) for r in new] == [
        ("slack", MessageKind.thread_message),
        ("slack", MessageKind.update_incident),
    ]
    thread, update = new
    assert f"{PUBLIC}/rca/{incident_id}" in thread.payload["text"]
    assert "2 proposed action item(s)" in thread.payload["text"]
    assert thread.payload["mention"] == [] and thread.payload["here"] is False
    assert thread.payload["channel"] == "C0GROWTH01"
    assert update.payload["reason"] == "rca"


def test_related_incidents_link_the_last_rca_of_the_same_model_with_its_root_cause(
    catalog: Engine,
) -> None:
    first = drift_incident(catalog)
    rca(catalog, first, T0 + timedelta(hours=1), provider(CHURN_PRS))
    with Session(catalog) as s:
        service.update(
            session=s,
            incident_id=first,
            patch=RcaPatch(root_cause="Currency switch upstream <b>again</b>"),
            now=T0 + timedelta(hours=2),
        )
        s.commit()
    # Two days later the same alert fires again: a new incident.
    second = ingest(catalog, "drift-firing", T0 + timedelta(days=2))
    other = ingest(catalog, "batch-failure-firing", T0 + timedelta(days=2))  # ltv: unrelated
    assert len({first, second, other}) == 3

    markdown = rca(catalog, second, T0 + timedelta(days=2, hours=1)).document.markdown

    related = markdown.split("## Related past incidents", 1)[1].split("## Root cause", 1)[0]
    assert (
        f"- [#{first} Drift score 0.9 for model churn]({PUBLIC}/incidents/{first}) "
        "(warning, 2026-03-03 15:00:00 UTC): root cause: Currency switch upstream "
        f"&lt;b&gt;again&lt;/b&gt; · [RCA]({PUBLIC}/rca/{first})"
    ) in related
    assert f"#{other}" not in related


def test_related_incidents_match_the_alert_name_across_models(catalog: Engine) -> None:
    first = ingest(catalog, "drift-firing", T0)
    resolve(catalog, first, "emily", T0 + timedelta(minutes=5))
    body_labels = {"model": "ltv", "alertname": "ModelDriftHigh"}
    second = ingest(
        catalog,
        "drift-firing",
        T0 + timedelta(hours=1),
        groupKey='{}:{alertname="ModelDriftHigh", model="ltv"}',
        commonLabels={**body_labels, "severity": "warning"},
        groupLabels=body_labels,
    )

    markdown = rca(catalog, second, T0 + timedelta(hours=2)).document.markdown

    related = markdown.split("## Related past incidents", 1)[1].split("## Root cause", 1)[0]
    assert f"[#{first} Drift score 0.9 for model churn]" in related
    assert "no root cause written" in related


def test_a_storm_lists_the_first_alerts_and_says_how_many_there_were(catalog: Engine) -> None:
    incident_id = ingest(catalog, "storm-200", T0)

    markdown = rca(catalog, incident_id, T0 + timedelta(hours=1)).document.markdown

    alerts = markdown.split("## Alerts", 1)[1].split("## Readiness", 1)[0]
    rows = [line for line in alerts.splitlines() if line.startswith("| ModelDriftHigh |")]
    assert len(rows) == 100
    assert "The first 100 of 200 alerts are listed; the incident page has them all." in alerts
    assert "- Alerts: 200 (200 still firing): ModelDriftHigh" in markdown
    # The storm repeats one description: shown once.
    assert alerts.count("is above 0.5") == 1


def test_links_are_right_when_the_public_url_ends_with_a_slash(catalog: Engine) -> None:
    # ONCALL_PUBLIC_URL=https://oncall.example.com/ is an easy way to write it.
    first = drift_incident(catalog)
    with Session(catalog) as s:
        generated = service.generate(
            session=s,
            incident_id=first,
            now=T0 + timedelta(hours=1),
            prs_provider=lambda *_: None,
            public_url=f"{PUBLIC}/",
        )
        s.commit()
        shown = service.public(s, generated.document, T0 + timedelta(hours=1))
    assert shown.url == f"{PUBLIC}/rca/{first}"
    assert shown.markdown_url == f"{PUBLIC}/rca/{first}.md"
    markdown = generated.document.markdown
    assert f"{PUBLIC}/incidents/{first}" in markdown
    assert "//rca/" not in markdown and "//incidents/" not in markdown
    assert "//rca/" not in str(generated.document.content)
