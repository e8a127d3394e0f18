"""GET /: who is on call and the latest incidents, with alert text shown as text."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

ALERTMANAGER = Path(__file__).parent / "fixtures" / "alertmanager"


def test_dashboard_shows_who_is_on_call_and_incidents(client: TestClient) -> None:
    drift = json.loads((ALERTMANAGER / "drift-firing.json").read_text())
    assert client.post("/api/v1/alerts/alertmanager", json=drift).status_code == 200
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "growth-primary" in page.text and "platform-primary" in page.text
    assert "Drift score 0.9 for model churn" in page.text
    assert 'class="triggered"' in page.text


def test_hostile_alert_text_is_escaped_not_run(client: TestClient) -> None:
    hostile = json.loads((ALERTMANAGER / "unicode-and-injection.json").read_text())
    hostile["commonAnnotations"]["summary"] = "<script>alert(1)</script> {{ 7*7 }} & <!channel>"
    assert client.post("/api/v1/alerts/alertmanager", json=hostile).status_code == 200
    page = client.get("/").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; {{ 7*7 }} &amp; &lt;!channel&gt;" in page
