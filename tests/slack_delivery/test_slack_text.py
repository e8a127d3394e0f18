"""Text rules for Slack: escaping, truncation, safe links, mentions, pacing."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from oncall.integrations.slack import text as t
from oncall.integrations.slack.webapi import Pacer


@given(st.text())
def test_escaped_text_has_no_control_characters_left(raw: str) -> None:
    escaped = t.escape(raw)
    assert "<" not in escaped and ">" not in escaped
    assert escaped.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "").count("&") == 0


@given(st.text(), st.integers(min_value=1, max_value=300))
def test_truncated_text_fits_and_never_ends_inside_an_entity(raw: str, limit: int) -> None:
    cut = t.truncate(t.escape(raw), limit)
    assert len(cut) <= limit
    body = cut.removesuffix(t.ELLIPSIS)
    amp = body.rfind("&")
    assert amp == -1 or ";" in body[amp:]


def test_links_keep_only_http_and_https() -> None:
    assert t.safe_url("javascript:alert(1)") is None
    assert t.safe_url("data:text/html,hi") is None
    assert t.safe_url("ftp://files.example.com/x") is None
    assert t.safe_url("//evil.example/x") is None
    assert t.safe_url("https://ok.example/a b|c>") == "https://ok.example/a%20b%7Cc%3E"
    assert (
        t.safe_url("runbooks/model-drift.md", base="https://oncall.example.com")
        == "https://oncall.example.com/runbooks/model-drift.md"
    )
    assert t.link("javascript:alert(1)", "<b>") == "&lt;b&gt;"
    assert t.link("https://x.example/?a=1&b=2", "go") == "<https://x.example/?a=1&amp;b=2|go>"


def test_mentions_need_a_slack_user_id() -> None:
    assert t.mention("U0TAKA0001", "Taka") == "<@U0TAKA0001>"
    assert t.mention(None, "Taka <@U1>") == "Taka &lt;@U1&gt;"
    assert t.mention("<!channel>", "Eve") == "Eve"


def test_dates_carry_a_utc_fallback() -> None:
    when = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
    assert (
        t.date(when)
        == f"<!date^{int(when.timestamp())}^{{date_short_pretty}} at {{time}}|2026-03-03 15:00 UTC>"
    )


def test_posts_to_one_channel_are_paced_a_second_apart_others_are_not() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(1.0, monotonic=lambda: now[0], sleep=sleep)
    pacer.wait("C1")
    pacer.wait("C2")
    assert slept == []
    now[0] += 0.25
    pacer.wait("C1")
    assert slept == [0.75]
    now[0] += 5
    pacer.wait("C1")
    assert slept == [0.75]
