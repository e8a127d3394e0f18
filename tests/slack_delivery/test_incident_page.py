"""GET /incidents/{id}: the page Slack, PagerDuty and the dashboard link to — readable
without JavaScript, alert text shown as text, links only http/https."""

from __future__ import annotations

import re
from datetime import timedelta

from delivery_helpers import deliver, fire, payload
from delivery_stub import SlackStub
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.links import incident_url
from oncall.rca.models import RcaDocument


def test_the_page_shows_status_people_alerts_timeline_and_links(
    app_client: TestClient,
    catalog: Engine,
    slack_settings: Settings,
    clock: FrozenClock,
    stub: SlackStub,
) -> None:
    incident_id = fire(app_client, payload("batch-failure-firing"))
    before = app_client.get(f"/incidents/{incident_id}")
    assert before.status_code == 200 and before.headers["content-type"].startswith("text/html")
    assert "Slack message" not in before.text  # not posted yet
    deliver(slack_settings, catalog, clock)
    clock.advance(timedelta(minutes=2))
    app_client.post(f"/api/v1/incidents/{incident_id}/ack", json={"by": "ryan"})

    page = app_client.get(f"/incidents/{incident_id}").text
    assert "<script" not in page
    assert "Batch job ltv-nightly-scoring (model ltv) failed" in page
    assert 'class="acknowledged">acknowledged' in page
    assert "<code>ltv</code> (Lifetime-value forecaster)" in page
    assert "Growth Data Science" in page
    assert "by Ryan Curtin at" in page
    assert "<code>job_name=ltv-nightly-scoring</code>" in page
    assert "scores for model ltv are stale" in page  # an annotation
    assert '<a href="https://runbooks.example.com/batch/ltv-nightly-scoring">runbook</a>' in page
    assert '<a href="https://slack.com/app_redirect?channel=C0GROWTH01">Slack message</a>' in page
    assert "acknowledged by ryan" in page  # the timeline
    assert "/rca/" not in page

    with Session(catalog) as s:
        s.add(RcaDocument(incident_id=incident_id, generated_at=clock(), updated_at=clock()))
        s.commit()
    page = app_client.get(f"/incidents/{incident_id}").text
    assert f'<a href="https://oncall.example.com/rca/{incident_id}">RCA</a>' in page


def test_alert_text_is_shown_as_text_and_unsafe_links_are_not_links(
    app_client: TestClient,
) -> None:
    body = payload("batch-failure-firing")
    for alert in body["alerts"]:
        alert["annotations"]["description"] = "<script>alert(1)</script> {{ 7*7 }}"
        alert["annotations"]["runbook_url"] = "javascript:alert(1)"
        alert["generatorURL"] = "data:text/html,<b>x</b>"
    incident_id = fire(app_client, body)
    page = app_client.get(f"/incidents/{incident_id}").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; {{ 7*7 }}" in page
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(h.startswith(("/", "http://", "https://")) for h in hrefs)


def test_an_unknown_incident_gets_a_404_page(app_client: TestClient) -> None:
    for missing in ("999", "abc", "9" * 40):
        response = app_client.get(f"/incidents/{missing}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "Not found" in response.text and 'href="/"' in response.text


def test_the_dashboard_links_to_the_incident_page(app_client: TestClient) -> None:
    incident_id = fire(app_client, payload("drift-firing"))
    assert f'href="/incidents/{incident_id}"' in app_client.get("/").text


def test_incident_urls_are_absolute_from_the_public_url() -> None:
    settings = Settings(ONCALL_PUBLIC_URL="https://oncall.example.com/")
    assert incident_url(settings, 7) == "https://oncall.example.com/incidents/7"
