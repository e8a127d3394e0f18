"""Runbooks linked from the shipped rules are served by the service itself."""

from __future__ import annotations

from pathlib import Path

import yaml
from fastapi.testclient import TestClient

RULES = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "rules"


def test_every_rule_runbook_url_is_served(client: TestClient) -> None:
    urls = {
        rule["annotations"]["runbook_url"]
        for path in RULES.glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert urls
    for url in urls:
        response = client.get("/" + url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith("text/markdown")
        assert response.text.startswith("#")


def test_unknown_or_escaping_runbook_names_are_404(client: TestClient) -> None:
    assert client.get("/runbooks/nope.md").status_code == 404
    assert client.get("/runbooks/..%2Fconfig.py").status_code == 404
    assert client.get("/runbooks/../app.py").status_code == 404
