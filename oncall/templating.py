"""Jinja2 for the service's pages and documents.

Autoescaping is always on, and alert text only ever enters templates as values: it is never
compiled as a template, so `{{ 7*7 }}` in an annotation stays that text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


@lru_cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("oncall", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
