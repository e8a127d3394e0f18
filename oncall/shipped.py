"""Folders kept once at the top of the repository and carried inside the installed package.

`runbooks/`, `alembic/` and `deploy/prometheus/rules/` live at the top of a checkout; the wheel
ships them as `oncall/runbooks`, `oncall/migrations` and `oncall/prometheus_rules` (hatchling
`force-include` in pyproject.toml; the demo's Prometheus loads the rules).
An editable install also gets copies in site-packages/oncall/; they are never read, because the
imported package (and so PACKAGE_DIR) is the checkout's.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

PACKAGE_DIR = Path(__file__).resolve().parent

# name inside the installed package -> (folder at the top of a checkout, a file it always holds)
_FOLDERS = {
    "migrations": ("alembic", "env.py"),
    "runbooks": ("runbooks", "README.md"),
    "prometheus_rules": ("deploy/prometheus/rules", "model-drift.rules.yml"),
}


@cache
def shipped_folder(name: Literal["migrations", "runbooks", "prometheus_rules"]) -> Path:
    """The folder inside an installed wheel, else the one at the top of a checkout."""
    top_level, marker = _FOLDERS[name]
    # Found by a file it holds, not by the folder: an old checkout may keep a stale __pycache__
    # where the folder used to be.
    for folder in (PACKAGE_DIR / name, PACKAGE_DIR.parent / top_level):
        if (folder / marker).is_file():
            return folder
    raise FileNotFoundError(
        f"{name} not found: neither {PACKAGE_DIR / name} (installed wheel) "
        f"nor {PACKAGE_DIR.parent / top_level} (checkout) holds {marker}"
    )
