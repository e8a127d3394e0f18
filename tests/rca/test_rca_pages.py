"""RCA pages over real HTTP: the Markdown and the HTML page of a hostile alert (escaped, links
only http/https, `{{ 7*7 }}` left as text), and PATCH with its refusals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from rca_helpers import PUBLIC, T0, ingest, provider, rca, score
from sqlalchemy.engine import Engine
from sqlmodel import Session

from oncall.app import create_app
from oncall.clock import FrozenClock
from oncall.config import Settings
from oncall.rca import service
from oncall.rca.content import NO_PRS

TOKEN = "rca-test-token-5f1c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def api(catalog: Engine, clock: FrozenClock) -> Iterator[TestClient]:
    settings = Settings(ONCALL_DATABASE_URL="sqlite://", ONCALL_WEBHOOK_TOKEN=TOKEN)
    app = create_app(settings, engine=catalog, clock=clock, background=False)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def hostile(catalog: Engine) -> int:
    """The captured alert whose annotations hold Slack mentions, template syntax, HTML and a
    javascript: runbook link; its model (recsys) is not in the catalog."""
    incident_id = ingest(catalog, "unicode-and-injection", T0)
    rca(catalog, incident_id, T0 + timedelta(minutes=5))
    return incident_id


@pytest.fixture
def drafted(catalog: Engine, clock: FrozenClock) -> int:
    incident_id = ingest(catalog, "drift-firing", T0)
    clock.advance(timedelta(minutes=10))
    gaps = score(
        "churn", T0, {"testing.integration": "manual", "operations.rollback_plan": "missing"}
    )
    rca(catalog, incident_id, T0 + timedelta(minutes=5), provider(gaps))
    return incident_id


def test_markdown_of_a_hostile_alert_shows_its_text_and_nothing_else(
    api: TestClient, hostile: int
) -> None:
    response = api.get(f"/rca/{hostile}.md")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    markdown = response.text
    # Template syntax is data: not evaluated, not an error.
    assert "{{ 7\\*7 }} {% raw %}" in markdown
    assert "{{ config.items() }}" in markdown
    # No live mention, HTML or link from the alert text.
    for live in (
        "<!channel>",
        "<!here>",
        "<@U123>",
        "<script",
        "<img",
        "javascript:",
    ):
        assert live not in markdown, live
    assert not re.search(r"(?<!\\)\]\(http://evil", markdown), "a live link from alert text"
    assert "&lt;!channel&gt; &lt;@U123&gt; &amp; &lt;http://evil\\|click&gt;" in markdown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown
    assert "\\[click\\](http://evil.example)" in markdown
    assert "\\*bold\\* \\_italic\\_ \\~strike\\~ \\`code\\`" in markdown
    # Unicode arrives intact.
    assert "特徴量パイプライン失敗" in markdown and "👩‍👩‍👧‍👦" in markdown
    assert "runbook link left out (not http or https)" in markdown
    assert f"## Readiness (PRS) at the time\n\n{NO_PRS}." in markdown


def test_html_page_of_a_hostile_alert_is_escaped_and_links_only_http(
    api: TestClient, hostile: int
) -> None:
    response = api.get(f"/rca/{hostile}")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "{{ 7*7 }} {% raw %}" in page
    for live in ("<!channel>", "<@U123>", "<script", "<img", "javascript:"):
        assert live not in page, live
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;!channel&gt;" in page
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs, "the page links the incident and the Markdown"
    assert all(h.startswith(("http://", "https://", "/")) for h in hrefs), hrefs
    assert f"{PUBLIC}/incidents/{hostile}" in hrefs
    assert NO_PRS in page


def test_html_page_shows_the_action_items_and_the_prs_gaps(api: TestClient, drafted: int) -> None:
    page = api.get(f"/rca/{drafted}").text

    assert (
        '<td>1</td><td class="text">Operations: rollback plan: make rollback plan automated</td>'
        in page
    )
    assert "<td>emily</td>" in page
    assert "Testing: integration" in page


def test_unknown_incident_and_incident_without_rca_answer_404(
    api: TestClient, catalog: Engine
) -> None:
    bare = ingest(catalog, "gpu-xid-firing", T0)

    assert api.get("/rca/999.md").status_code == 404
    assert api.get("/rca/999.md").json() == {"detail": "unknown incident 999"}
    missing = api.get(f"/rca/{bare}.md")
    assert missing.status_code == 404
    assert f"oncall rca generate {bare}" in missing.json()["detail"]
    page = api.get(f"/rca/{bare}")
    assert page.status_code == 404 and "has no RCA yet" in page.text
    assert (
        api.patch("/api/v1/incidents/999/rca", json={"status": "done"}, headers=AUTH).status_code
        == 404
    )


def test_patch_changes_status_root_cause_and_action_items(
    api: TestClient, drafted: int, clock: FrozenClock
) -> None:
    clock.advance(timedelta(minutes=50))
    response = api.patch(
        f"/api/v1/incidents/{drafted}/rca",
        json={
            "status": "in_review",
            "root_cause": "The feature store changed units.\nNobody was told.",
            "lucky": "It happened in Tokyo's daytime.",
            "action_items": [
                {"number": 1, "owner": "ryan", "due": "2026-03-10T17:00:00Z"},
                {"number": 2, "status": "done"},
            ],
        },
        headers=AUTH,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "in_review"
    assert body["root_cause"] == "The feature store changed units.\nNobody was told."
    assert body["sections"] == {"lucky": "It happened in Tokyo's daytime."}
    first, second = body["action_items"]
    assert (first["owner"], first["due_at"], first["status"]) == (
        "ryan",
        "2026-03-10T17:00:00Z",
        "open",
    )
    assert second["status"] == "done" and second["done_at"] == "2026-03-03T16:00:00Z"
    markdown = api.get(f"/rca/{drafted}.md").text
    assert "## Root cause\n\nThe feature store changed units.  \nNobody was told." in markdown
    assert "**Status:** in\\_review" not in markdown and "**Status:** in_review" in markdown
    assert (
        "| 1 | Operations: rollback plan: make rollback plan automated | ryan | 2026-03-10"
        in markdown
    )
    assert api.get(f"/api/v1/incidents/{drafted}/rca").json() == body


@pytest.mark.parametrize(
    ("patch", "loc", "words"),
    [
        ({"status": "closed"}, ["body", "status"], "draft"),
        ({"status": "done"}, ["body", "root_cause"], "root cause"),
        (
            {"action_items": [{"number": 9, "status": "done"}]},
            ["body", "action_items[0].number"],
            "no action item 9",
        ),
        (
            {"action_items": [{"number": 1, "owner": "nobody"}]},
            ["body", "action_items[0].owner"],
            "unknown person",
        ),
        (
            {"action_items": [{"number": 1, "status": "maybe"}]},
            ["body", "action_items", 0, "status"],
            "open",
        ),
        (
            {"action_items": [{"number": 1, "due": "2026-03-10T17:00:00"}]},
            ["body", "action_items[0].due"],
            "time zone",
        ),
        ({"owner": "ryan"}, ["body", "owner"], "Extra inputs"),
    ],
)
def test_bad_patch_is_refused_naming_the_field_and_changes_nothing(
    api: TestClient, drafted: int, patch: dict[str, object], loc: list[object], words: str
) -> None:
    before = api.get(f"/api/v1/incidents/{drafted}/rca").json()
    # Valid changes sent along with the bad one must not be applied either.
    response = api.patch(
        f"/api/v1/incidents/{drafted}/rca",
        json={"went_well": "half applied?", **patch},
        headers=AUTH,
    )

    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"] == loc
    assert words in problem["msg"]
    assert api.get(f"/api/v1/incidents/{drafted}/rca").json() == before


def test_patch_needs_the_webhook_token(api: TestClient, drafted: int, catalog: Engine) -> None:
    response = api.patch(f"/api/v1/incidents/{drafted}/rca", json={"status": "in_review"})

    assert response.status_code == 401
    with Session(catalog) as s:
        assert service.get(session=s, incident_id=drafted).status == "draft"
