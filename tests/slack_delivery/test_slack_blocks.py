"""Block Kit builders on their own: what the incident message and the shared buttons show,
and Slack's limits held for any alert text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from oncall.catalog.models import Person
from oncall.incidents.models import Alert, Incident, IncidentStatus
from oncall.integrations.slack import text as t
from oncall.integrations.slack.actions import Action
from oncall.integrations.slack.blocks import (
    IncidentMessage,
    StormMessage,
    facts,
    incident_blocks,
    incident_buttons,
    storm_blocks,
)

T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


def an_incident(**values: object) -> Incident:
    fields: dict[str, object] = {
        "id": 7,
        "group_key": "g",
        "group_hash": "h",
        "title": "Input drift on model churn",
        "severity": "warning",
        "status": IncidentStatus.triggered,
        "model_id": "churn",
        "assignee_id": "taka",
        "labels": {},
        "triggered_at": T0,
        "updated_at": T0,
    }
    fields.update(values)
    return Incident(**fields)  # type: ignore[arg-type]


def an_alert(n: int = 0, **annotations: str) -> Alert:
    return Alert(
        incident_id=7,
        fingerprint=f"{n:016x}",
        starts_at=T0,
        status="firing",
        labels={"alertname": "GPUXidError", "node": f"gpu-node-{n}", "xid": "79"},
        annotations=annotations,
        first_seen_at=T0,
        last_seen_at=T0,
    )


def message(incident: Incident, alerts: list[Alert]) -> IncidentMessage:
    return IncidentMessage(
        incident=incident,
        alerts=alerts,
        people={"taka": Person(id="taka", name="Taka", slack_user="U0TAKA0001", timezone="UTC")},
        team=None,
        model=None,
        has_rca=False,
        paged=False,
        incident_url="https://oncall.example.com/incidents/7",
        rca_url="https://oncall.example.com/rca/7",
        public_url="https://oncall.example.com",
        now=T0 + timedelta(minutes=12),
    )


def test_buttons_follow_the_status_and_rca_appears_with_a_document() -> None:
    def ids(incident: Incident, has_rca: bool) -> list[str]:
        block = incident_buttons(incident, has_rca=has_rca)
        assert block["type"] == "actions"
        assert all(b["value"] == "7" for b in block["elements"])
        return [b["action_id"] for b in block["elements"]]

    assert ids(an_incident(), False) == [Action.acknowledge, Action.resolve, Action.escalate]
    acked = an_incident(status=IncidentStatus.acknowledged)
    assert ids(acked, True) == [Action.resolve, Action.escalate, Action.rca]
    assert ids(an_incident(status=IncidentStatus.resolved), True) == [Action.rca]


def test_the_shipped_drift_rule_description_gives_the_score() -> None:
    alert = an_alert(
        description="The highest feature drift score of model churn is 0.73 (threshold 0.5)"
    )
    assert ("Drift score", "0.73") in facts([alert], {})


def test_many_gpu_nodes_are_listed_briefly() -> None:
    shown = dict(facts([an_alert(n) for n in range(40)], {}))
    assert shown["GPU node"].endswith(" …") and shown["GPU node"].count("gpu-node-") == 5
    assert shown["XID"] == "79"


def test_started_is_relative_and_absolute() -> None:
    text = "\n".join(
        b["text"]["text"] for b in incident_blocks(message(an_incident(), [])) if "text" in b
    )
    assert f"*Started:* 12 min ago (<!date^{int(T0.timestamp())}^" in text
    assert "*On call:* <@U0TAKA0001>" in text


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=5000), st.text(max_size=400), st.lists(st.text(max_size=300), max_size=8))
def test_any_alert_text_stays_within_block_kit_limits(
    description: str, title: str, runbooks: list[str]
) -> None:
    alerts = [an_alert(n, description=description, runbook_url=r) for n, r in enumerate(runbooks)]
    blocks = incident_blocks(message(an_incident(title=title or "x"), alerts))
    assert len(blocks) <= t.MAX_BLOCKS
    for block in blocks:
        if block["type"] == "header":
            assert 0 < len(block["text"]["text"]) <= t.MAX_HEADER
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= t.MAX_SECTION_TEXT
        if block["type"] == "actions":
            assert 0 < len(block["elements"]) <= t.MAX_BUTTONS
            for button in block["elements"]:
                assert 0 < len(button["text"]["text"]) <= t.MAX_BUTTON_LABEL
                assert button.get("url", "https://").startswith(("https://", "http://"))
        for text in (
            (block.get("text") or {}).get("text", ""),
            *(f["text"] for f in block.get("fields", [])),
        ):
            if block.get("text", {}).get("type") == "mrkdwn" or "fields" in block:
                assert "<!" not in text.replace("<!date^", "")


def test_a_storm_of_a_hundred_incidents_fits_in_one_message() -> None:
    incidents = [an_incident(id=i, title=f"node {i} " + "x" * 500) for i in range(1, 21)]
    blocks = storm_blocks(
        StormMessage(
            storm_id=1,
            channel="C0MLPLAT01",
            started_at=T0,
            total=100,
            open=99,
            severities={"critical": 100},
            models={f"node-{i}": 1 for i in range(100)},
            listed=incidents,
            has_rca=frozenset(),
            incident_urls={
                i.id or 0: f"https://oncall.example.com/incidents/{i.id}" for i in incidents
            },
            dashboard_url="https://oncall.example.com/",
            now=T0,
        )
    )
    assert len(blocks) <= t.MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= t.MAX_SECTION_TEXT for b in blocks if "text" in b)
    assert "100 incidents (99 open)" in blocks[0]["text"]["text"]
    assert "… (90 more)" in blocks[1]["text"]["text"]
    assert "…and 80 more" in blocks[-1]["elements"][0]["text"]
