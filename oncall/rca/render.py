"""Render an RCA's content as Markdown and as an HTML page.

Two Jinja2 environments over `oncall/templates/rca/`: the Markdown one has no autoescaping
(HTML escaping would mangle Markdown) and escapes every value with `md`, which backslash-
escapes Markdown syntax and neutralises HTML; the HTML one autoescapes. Both are sandboxed, so
a team's own template can read the content but not reach into Python. Values, alert text
included, are never compiled as templates: `{{ 7*7 }}` in an annotation stays that text.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from jinja2 import PackageLoader, StrictUndefined, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from oncall.rca.content import duration_words, safe_link

MARKDOWN_TEMPLATE = "rca/rca.md.j2"
HTML_TEMPLATE = "rca/rca.html.j2"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Inline Markdown syntax (CommonMark lets any ASCII punctuation be backslash-escaped). With
# `[` escaped no link can start, so `(`, `)` and `!` need nothing.
_INLINE = re.compile(r"([\\`*_\[\]|~])")
# Block syntax that only means something at the start of a line: lists, quotes, headings,
# setext underlines, numbered lists (`1.` becomes `1\.`).
_LINE_START = re.compile(r"^(\s*)(?:([-+=>#])|(\d+)([.)]))")


def _escape_line_start(match: re.Match[str]) -> str:
    if match.group(2):
        return f"{match.group(1)}\\{match.group(2)}"
    return f"{match.group(1)}{match.group(3)}\\{match.group(4)}"


def md(value: Any) -> str:
    """Text as inline Markdown that shows exactly that text: no markup, links or HTML."""
    if value is None:
        return ""
    text = _CONTROL.sub("", str(value).replace("\r\n", "\n").replace("\r", "\n"))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _INLINE.sub(r"\\\1", text)
    return "\n".join(_LINE_START.sub(_escape_line_start, line) for line in text.split("\n"))


def md_cell(value: Any) -> str:
    """`md` on one line, for a table cell."""
    return " ".join(md(value).split("\n")).strip()


def md_block(value: Any) -> str:
    """`md` keeping the line breaks (a Markdown hard break at the end of each line)."""
    return "  \n".join(line.rstrip() for line in md(value).split("\n"))


def md_link(url: Any, text: Any = None) -> str:
    """A Markdown link when `url` is http(s); the text alone (and why) otherwise."""
    label = md_cell(text if text is not None else url)
    safe = safe_link(str(url)) if url else None
    if safe is None:
        return f"{label} (link left out: not http or https)" if url else label
    return f"[{label}]({quote(safe, safe=':/?#[]@!$&*+,;=%~-._')})"


def when(value: Any) -> str:
    if not value:
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def duration(value: Any) -> str:
    return duration_words(int(value)) if value is not None else "-"


def percent(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0f}%"


def points(value: Any) -> str:
    return f"{float(value):g}"


def _link_html(url: Any) -> str | None:
    return safe_link(str(url)) if url else None


def _common(env: SandboxedEnvironment) -> SandboxedEnvironment:
    env.filters.update(when=when, duration=duration, percent=percent, points=points)
    return env


@lru_cache
def markdown_environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=PackageLoader("oncall", "templates"),
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md=md, md_cell=md_cell, md_block=md_block, md_link=md_link)
    return _common(env)


@lru_cache
def html_environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=PackageLoader("oncall", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(safe_href=_link_html, lines=_html_lines)
    return _common(env)


def _html_lines(value: Any) -> Markup:
    """Escaped text with its line breaks kept."""
    return Markup("<br>\n").join(Markup.escape(line) for line in str(value or "").split("\n"))


def template_problem(source: str) -> str | None:
    """Why a team's Markdown template cannot be used (with its line), or None."""
    try:
        markdown_environment().parse(source)
    except TemplateSyntaxError as exc:
        return f"the template does not parse: line {exc.lineno}: {exc.message}"
    return None


def render_markdown(context: dict[str, Any], *, team_template: str | None = None) -> str:
    env = markdown_environment()
    template = (
        env.from_string(team_template)
        if team_template is not None
        else env.get_template(MARKDOWN_TEMPLATE)
    )
    return template.render(**context)


def render_html(context: dict[str, Any]) -> str:
    return html_environment().get_template(HTML_TEMPLATE).render(**context)
