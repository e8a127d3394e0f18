"""Without Slack credentials the Slack endpoint says so (503), and the rest keeps working."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_slack_endpoint_without_credentials_answers_503_with_the_reason(
    client: TestClient,
) -> None:
    response = client.post("/slack/events", data={"command": "/oncall", "text": "who"})
    assert response.status_code == 503
    assert "SLACK_BOT_TOKEN" in response.json()["detail"]
    assert client.get("/healthz").status_code == 200
