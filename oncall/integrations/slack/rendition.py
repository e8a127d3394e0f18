"""A readable text rendition of a Slack message (its blocks, buttons included), for the
console channel and `oncall demo`: what would have been posted, as a person would see it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]*)>")
_DATE = re.compile(r"<!date\^[^|>]*\|([^>]*)>")
_MENTION = re.compile(r"<@([A-Z0-9]+)>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)>")
_EMOJI = re.compile(r":[a-z0-9_+-]+: ?")


def mrkdwn_to_text(text: str, names: Mapping[str, str] | None = None) -> str:
    """Slack mrkdwn as plain text: `label (url)`, `@Name` for a mention (`@U…` for a Slack
    user not in `names`), dates in their fallback (UTC)."""
    known = names or {}
    text = _DATE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1).replace('&amp;', '&')})", text)
    text = _MENTION.sub(lambda m: f"@{known.get(m.group(1), m.group(1))}", text)
    text = _SPECIAL.sub(lambda m: f"@{m.group(1)}", text)
    text = _EMOJI.sub("", text).replace("*", "").replace("`", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _buttons(elements: Sequence[Mapping[str, Any]]) -> str:
    return " ".join(f"[{e.get('text', {}).get('text', '?')}]" for e in elements)


def block_lines(
    blocks: Sequence[Mapping[str, Any]], names: Mapping[str, str] | None = None
) -> list[str]:
    """One or more lines per block, in order."""

    def mrkdwn_to_text(text: str) -> str:
        return _as_text(text, names)

    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"== {block['text']['text']} ==")
        elif kind == "section":
            if "text" in block:
                lines.extend(mrkdwn_to_text(block["text"]["text"]).splitlines())
            fields = [mrkdwn_to_text(f["text"]) for f in block.get("fields", [])]
            if fields:
                lines.append(" · ".join(fields))
        elif kind == "actions":
            lines.append(_buttons(block.get("elements", [])))
        elif kind == "context":
            lines.append(" ".join(mrkdwn_to_text(e.get("text", "")) for e in block["elements"]))
        elif kind == "divider":
            lines.append("-" * 20)
    return lines


_as_text = mrkdwn_to_text


def message_lines(args: Mapping[str, Any], names: Mapping[str, str] | None = None) -> list[str]:
    """A chat.postMessage / chat.update body as text: its blocks, else its text."""
    blocks = args.get("blocks")
    if blocks:
        return block_lines(blocks, names)
    return mrkdwn_to_text(str(args.get("text", "")), names).splitlines() or [""]
