"""Render an RCA's content as Markdown and as an HTML page.

Two Jinja2 environments over `oncall/templates/rca/`: the Markdown one has no HTML
autoescaping (it would mangle Markdown) but escapes every value with `md`, which backslash-
escapes Markdown syntax and neutralises HTML and Slack mentions; the HTML one autoescapes.
Both are sandboxed, so a team's own template can read the content but not reach into
Python. Values, alert text included, are never compiled as templates: `{{ 7*7 }}` in an
annotation stays that text.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from traceback import extract_tb
from typing import Any
from urllib.parse import quote

from jinja2 import PackageLoader, StrictUndefined, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from oncall.links import safe_url
from oncall.rca.content import duration_words

MARKDOWN_TEMPLATE = "rca/rca.md.j2"
HTML_TEMPLATE = "rca/rca.html.j2"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Inline Markdown syntax (CommonMark lets any ASCII punctuation be backslash-escaped). With
# `[` escaped no link can start, so `(`, `)` and `!` need nothing; `<` and `>` become entities.
# An underscore between two letters or digits (`job_name`) starts no emphasis: left as is.
_INLINE = re.compile(r"([\\`*\[\]|~]|(?<![^\W_])_|_(?![^\W_]))")
# Block syntax, which only means something at the start of a line: list markers and headings
# (followed by a space), numbered lists (`1.` becomes `1\.`), setext and thematic rules.
_BLOCK = re.compile(
    r"^(?P<indent>\s*)(?:(?P<mark>[-+]|#{1,6})(?=\s|$)|(?P<num>\d{1,9})(?P<dot>[.)])(?=\s|$)"
    r"|(?P<rule>[-=])(?=[-=\s]*$))"
)


def _escape_block(match: re.Match[str]) -> str:
    indent, number = match.group("indent"), match.group("num")
    if number is not None:
        return f"{indent}{number}\\{match.group('dot')}"
    return f"{indent}\\{match.group('mark') or match.group('rule')}"


def _md(value: Any, *, block: bool = True) -> str:
    if value is None:  # an undefined value renders as Jinja says (StrictUndefined: an error)
        return ""
    text = _CONTROL.sub("", str(value).replace("\r\n", "\n").replace("\r", "\n"))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _INLINE.sub(r"\\\1", text)
    if not block:
        return text
    return "\n".join(_BLOCK.sub(_escape_block, line) for line in text.split("\n"))


def md(value: Any) -> Markup:
    """Text as Markdown that shows exactly that text: no markup, links, HTML or mentions."""
    return Markup(_md(value))


def md_cell(value: Any) -> Markup:
    """`md` on one line, for a table cell or a link label (never at a line start)."""
    return Markup(" ".join(_md(value, block=False).split("\n")).strip())


def md_block(value: Any) -> Markup:
    """`md` keeping the line breaks (a Markdown hard break at the end of each line)."""
    return Markup("  \n".join(line.rstrip() for line in _md(value).split("\n")))


def md_link(url: Any, text: Any = None) -> Markup:
    """A Markdown link when `url` is http(s); the text alone (and why) otherwise."""
    label = md_cell(text if text is not None else url)
    safe = safe_url(str(url)) if url else None
    if safe is None:
        return Markup(f"{label} (link left out: not http or https)" if url else label)
    # Deliberately more than `oncall.links` quotes: a Markdown link destination also ends at
    # `(`, `)` or a backslash, so everything outside the URL syntax is percent-encoded.
    return Markup(f"[{label}]({quote(safe, safe=':/?#[]@!$&*+,;=%~-._')})")


def _finalize(value: Any) -> Any:
    """Every `{{ value }}` of a Markdown template is escaped unless a filter made it Markdown
    already (md, md_link...) or the template says `| safe`: a team's template is safe even
    where it forgets a filter."""
    return value if isinstance(value, Markup) else _md(value)


# Formatting filters make their text from times and numbers only: Markup, so that the
# Markdown environment does not escape it again.


def when(value: Any) -> Markup:
    if not value:
        return Markup("-")
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return Markup(f"{moment:%Y-%m-%d %H:%M:%S} UTC")


def duration(value: Any) -> Markup:
    return Markup(duration_words(int(value)) if value is not None else "-")


def percent(value: Any) -> Markup:
    return Markup("-" if value is None else f"{float(value):.0f}%")


def points(value: Any) -> Markup:
    return Markup(f"{float(value):g}")


def _link_html(url: Any) -> str | None:
    return safe_url(str(url)) if url else None


def _environment(**options: Any) -> SandboxedEnvironment:
    """A sandboxed environment over `oncall/templates/` with the formatting filters."""
    env = SandboxedEnvironment(
        loader=PackageLoader("oncall", "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        **options,
    )
    env.filters.update(when=when, duration=duration, percent=percent, points=points)
    return env


@lru_cache
def markdown_environment() -> SandboxedEnvironment:
    env = _environment(autoescape=False, keep_trailing_newline=True, finalize=_finalize)
    env.filters.update(md=md, md_cell=md_cell, md_block=md_block, md_link=md_link)
    return env


@lru_cache
def html_environment() -> SandboxedEnvironment:
    env = _environment(autoescape=True)
    env.filters.update(safe_href=_link_html, lines=_html_lines)
    return env


def _html_lines(value: Any) -> Markup:
    """Escaped text with its line breaks kept."""
    return Markup("<br>\n").join(Markup.escape(line) for line in str(value or "").split("\n"))


def template_problem(source: str) -> str | None:
    """Why a team's Markdown template cannot be used (with its line), or None: it must parse,
    and render an RCA of a made-up incident (a name no RCA has is found now, not at 3 a.m.)."""
    from oncall.rca.sample import sample_context

    try:
        markdown_environment().parse(source)
    except TemplateSyntaxError as exc:
        return f"the template does not parse: line {exc.lineno}: {exc.message}"
    try:
        render_markdown(dict(sample_context()), team_template=source)
    except Exception as exc:  # anything the template does wrong is reported, never raised
        lines = [f.lineno for f in extract_tb(exc.__traceback__) if f.filename == "<template>"]
        where = f"line {lines[-1]}: " if lines else ""
        return f"the template fails on a sample incident: {where}{type(exc).__name__}: {exc}"
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
