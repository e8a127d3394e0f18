"""A team's own RCA template: named in the catalog relative to the catalog file, checked by
`oncall config check` with line numbers, used for the team's RCAs, escaped all the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from rca_helpers import T0, ingest, provider, rca, score
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from oncall.catalog.loader import InvalidConfig, load_catalog
from oncall.catalog.models import Team
from oncall.catalog.service import apply_catalog
from oncall.cli import app

EXAMPLE = Path(__file__).parents[1] / "fixtures" / "oncall.yaml"

GROWTH_TEMPLATE = """\
# Post-incident review: {{ incident.title }}

{{ summary }}

What the alert said: {{ trigger.summary }}
{% for item in action_items %}
- [ ] {{ item.title }} ({{ item.owner_id }}, {{ item.due_at | when }})
{% endfor %}

Root cause: {{ root_cause or "to be written" }}
"""


def catalog_with_templates(tmp_path: Path, templates: dict[str, str]) -> Path:
    """The example catalog in `tmp_path`, each team of `templates` given `rca_template:`."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for team, path in templates.items():
        anchor = f"  - id: {team}\n"
        assert anchor in text
        text = text.replace(anchor, f"{anchor}    rca_template: {path}\n")
    catalog = tmp_path / "config" / "oncall.yaml"
    catalog.parent.mkdir(parents=True, exist_ok=True)
    catalog.write_text(text, encoding="utf-8")
    return catalog


def apply(engine: Engine, catalog: Path) -> None:
    with Session(engine) as s:
        apply_catalog(session=s, spec=load_catalog(catalog), now=T0)
        s.commit()


def test_team_template_is_read_relative_to_the_catalog_and_used_for_the_team(
    catalog: Engine, tmp_path: Path
) -> None:
    path = catalog_with_templates(tmp_path, {"growth-ds": "rca/growth.md.j2"})
    (path.parent / "rca").mkdir()
    (path.parent / "rca" / "growth.md.j2").write_text(GROWTH_TEMPLATE, encoding="utf-8")
    assert CliRunner().invoke(app, ["config", "check", str(path)]).exit_code == 0
    apply(catalog, path)
    incident_id = ingest(catalog, "drift-firing", T0)
    gaps = score("churn", T0, {"operations.rollback_plan": "missing"})

    document = rca(catalog, incident_id, T0, provider(gaps)).document

    assert document.template == "team:growth-ds"
    assert document.markdown.startswith("# Post-incident review: Drift score 0.9 for model churn\n")
    assert (
        "- [ ] Operations: rollback plan: make rollback plan automated "
        "(emily, 2026-04-02 15:00:00 UTC)"
    ) in document.markdown
    assert "Root cause: to be written" in document.markdown


def test_team_template_escapes_alert_text_even_without_a_filter(
    catalog: Engine, tmp_path: Path
) -> None:
    # The hostile alert routes to ml-platform; its template prints values with no filter.
    path = catalog_with_templates(tmp_path, {"ml-platform": "platform.md.j2"})
    (path.parent / "platform.md.j2").write_text(GROWTH_TEMPLATE, encoding="utf-8")
    apply(catalog, path)
    incident_id = ingest(catalog, "unicode-and-injection", T0)

    document = rca(catalog, incident_id, T0).document

    assert document.template == "team:ml-platform"
    assert "What the alert said: 🔥 特徴量パイプライン失敗 &lt;!channel&gt; &lt;@U123&gt;" in (
        document.markdown
    )
    assert "{{ 7\\*7 }} {% raw %}" in document.markdown
    assert "<!channel>" not in document.markdown


def test_a_team_template_that_fails_to_render_falls_back_to_the_default(
    catalog: Engine, tmp_path: Path
) -> None:
    path = catalog_with_templates(tmp_path, {"growth-ds": "fragile.md.j2"})
    # Passes config check (the sample incident has a score), fails for a model without one.
    (path.parent / "fragile.md.j2").write_text("PRS: {{ prs.percent }}\n", encoding="utf-8")
    apply(catalog, path)
    incident_id = ingest(catalog, "drift-firing", T0)

    document = rca(catalog, incident_id, T0, provider(None)).document

    assert document.template == "default"
    assert document.markdown.startswith("# RCA: incident #1:")
    assert "The team's own template could not render" in document.markdown


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        (None, "no such file"),
        ("# {{ incident.title }\n", "the template does not parse: line 1:"),
        ("ok\n{% for x in alerts %}\n{{ x }}\n", "the template does not parse: line 3:"),
        (
            "# {{ incident.title }}\n{{ no_such_value }}\n",
            "the template fails on a sample incident: line 2: UndefinedError: "
            "'no_such_value' is undefined",
        ),
        (
            "{{ incident.title.__class__.__mro__ }}\n",
            "the template fails on a sample incident: line 1: SecurityError",
        ),
    ],
)
def test_config_check_names_the_line_of_a_missing_or_broken_template(
    tmp_path: Path, template: str | None, problem: str
) -> None:
    path = catalog_with_templates(tmp_path, {"growth-ds": "rca/growth.md.j2"})
    if template is not None:
        (path.parent / "rca").mkdir()
        (path.parent / "rca" / "growth.md.j2").write_text(template, encoding="utf-8")

    result = CliRunner().invoke(app, ["config", "check", str(path)])

    assert result.exit_code == 1
    line = next(
        n for n, text in enumerate(path.read_text().splitlines(), 1) if "rca_template:" in text
    )
    assert f"{path}:{line}: teams[0].rca_template: " in result.stderr
    assert problem in result.stderr
    with pytest.raises(InvalidConfig):
        load_catalog(path)


def test_removing_the_template_from_the_catalog_brings_back_the_default(
    catalog: Engine, tmp_path: Path
) -> None:
    path = catalog_with_templates(tmp_path, {"growth-ds": "growth.md.j2"})
    (path.parent / "growth.md.j2").write_text(GROWTH_TEMPLATE, encoding="utf-8")
    apply(catalog, path)
    apply(catalog, EXAMPLE)

    with Session(catalog) as s:
        team = s.get(Team, "growth-ds")
        assert team is not None and team.rca_template is None
    incident_id = ingest(catalog, "drift-firing", T0)
    assert rca(catalog, incident_id, T0).document.template == "default"


def test_the_default_template_passes_the_check_a_team_template_gets() -> None:
    from oncall.rca.render import template_problem

    default = Path(__file__).parents[2] / "oncall" / "templates" / "rca" / "rca.md.j2"
    assert template_problem(default.read_text(encoding="utf-8")) is None
