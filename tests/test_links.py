"""The one filter for links from alert data (Slack, PagerDuty, the incident page, the RCA)."""

from __future__ import annotations

import pytest

from oncall.links import safe_url

BASE = "https://oncall.example.com"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("runbooks/model-drift.md", f"{BASE}/runbooks/model-drift.md"),
        ("https://runbooks.example.com/a b", "https://runbooks.example.com/a%20b"),
        (
            "https://runbooks.example.com/x\x01\"'<>|",
            "https://runbooks.example.com/x%01%22%27%3C%3E%7C",
        ),
        ("//evil.example/runbook", None),  # another host, not a path under the public URL
        ("javascript:alert(1)", None),
        ("http://[::1", None),  # does not parse: no link, and no error
        ("", None),
    ],
)
def test_links_keep_only_http_and_https_resolved_against_the_public_url(
    url: str, expected: str | None
) -> None:
    assert safe_url(url, base=BASE) == expected
