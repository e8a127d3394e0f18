"""GET /runbooks/{name}: the runbooks linked from alert rules (see oncall/shipped.py)."""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException
from fastapi.responses import PlainTextResponse

from oncall.shipped import shipped_folder

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*\.md$")

router = APIRouter(tags=["runbooks"])


@router.get("/runbooks/", response_class=PlainTextResponse)
def runbook_index() -> PlainTextResponse:
    return runbook("README.md")


@router.get("/runbooks/{name}", response_class=PlainTextResponse)
def runbook(name: str) -> PlainTextResponse:
    if not (_NAME.match(name) or name == "README.md"):
        raise HTTPException(404, f"no runbook named {name!r}")
    path = shipped_folder("runbooks") / name
    if not path.is_file():
        raise HTTPException(404, f"no runbook named {name!r}")
    text = path.read_text(encoding="utf-8")
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
