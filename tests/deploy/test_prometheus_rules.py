"""Checks of the shipped Prometheus rules, their unit tests and the Alertmanager config.

promtool and amtool come from the Debian packages ``prometheus`` and
``prometheus-alertmanager``; the tests that need them are skipped when they
are not installed. The structural checks run everywhere.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"
TESTS_DIR = ROOT / "deploy" / "prometheus" / "tests"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
RUNBOOKS_DIR = ROOT / "runbooks"

RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
TEST_FILES = sorted(TESTS_DIR.glob("*.test.yml"))

CATEGORIES = {"ml_drift", "batch_failure", "gpu_node"}
SEVERITIES = {"critical", "error", "warning", "info"}
RUNBOOK_URL = re.compile(r"^runbooks/(?P<name>[a-z0-9][a-z0-9-]*\.md)$")
WEBHOOK_URL = "http://127.0.0.1:8080/api/v1/alerts/alertmanager"


def _load(path: Path) -> dict:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def _alert_rules() -> list[tuple[Path, dict]]:
    rules = []
    for path in RULE_FILES:
        for group in _load(path)["groups"]:
            rules.extend((path, rule) for rule in group["rules"] if "alert" in rule)
    return rules


ALERT_RULES = _alert_rules()
ALERT_IDS = [rule["alert"] for _, rule in ALERT_RULES]


def _alert_tests() -> list[dict]:
    cases = []
    for path in TEST_FILES:
        for test in _load(path).get("tests", []):
            cases.extend(test.get("alert_rule_test", []))
    return cases


def _run(tool: str, package: str, *args: str | Path) -> subprocess.CompletedProcess:
    binary = shutil.which(tool)
    if binary is None:
        pytest.skip(f"{tool} not installed (Debian package {package})")
    return subprocess.run(
        [binary, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_files_are_present():
    assert RULE_FILES, f"no rule files in {RULES_DIR}"
    assert TEST_FILES, f"no promtool test files in {TESTS_DIR}"
    assert ALERT_RULES, "no alert rules found"
    assert len(ALERT_IDS) == len(set(ALERT_IDS)), "alert names must be unique"


# promtool and amtool


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(rule_file: Path):
    result = _run("promtool", "prometheus", "check", "rules", rule_file)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_promtool_test_rules(test_file: Path):
    # promtool resolves rule_files relative to the test file.
    result = _run("promtool", "prometheus", "test", "rules", test_file)
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_check_config():
    result = _run("amtool", "prometheus-alertmanager", "check-config", ALERTMANAGER_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr


# Alert rules


@pytest.mark.parametrize(("rule_file", "rule"), ALERT_RULES, ids=ALERT_IDS)
def test_alert_has_category_and_severity(rule_file: Path, rule: dict):
    labels = rule.get("labels", {})
    assert labels.get("category") in CATEGORIES, f"{rule['alert']}: category"
    assert labels.get("severity") in SEVERITIES, f"{rule['alert']}: severity"


@pytest.mark.parametrize(("rule_file", "rule"), ALERT_RULES, ids=ALERT_IDS)
def test_alert_has_annotations_and_runbook(rule_file: Path, rule: dict):
    annotations = rule.get("annotations", {})
    for key in ("summary", "description", "runbook_url"):
        assert annotations.get(key, "").strip(), f"{rule['alert']}: annotation {key} missing"
    match = RUNBOOK_URL.match(annotations["runbook_url"])
    assert match, f"{rule['alert']}: runbook_url must look like runbooks/<name>.md"
    runbook = RUNBOOKS_DIR / match["name"]
    assert runbook.is_file(), f"{rule['alert']}: {runbook.relative_to(ROOT)} does not exist"
    assert rule["alert"] in runbook.read_text(encoding="utf-8"), (
        f"{runbook.name} does not name the alert {rule['alert']}"
    )


@pytest.mark.parametrize(("rule_file", "rule"), ALERT_RULES, ids=ALERT_IDS)
def test_alert_is_covered_by_promtool_tests(rule_file: Path, rule: dict):
    cases = [case for case in _alert_tests() if case.get("alertname") == rule["alert"]]
    assert any(case.get("exp_alerts") for case in cases), (
        f"{rule['alert']}: no promtool test expects it to fire"
    )
    assert any(not case.get("exp_alerts") for case in cases), (
        f"{rule['alert']}: no promtool test expects it to stay silent"
    )


def test_every_rule_file_is_tested():
    tested = set()
    for path in TEST_FILES:
        for name in _load(path).get("rule_files", []):
            target = (path.parent / name).resolve()
            assert target.is_file(), f"{path.name}: rule file {name} does not exist"
            tested.add(target)
    untested = [p.name for p in RULE_FILES if p.resolve() not in tested]
    assert not untested, f"rule files without promtool tests: {untested}"


# Runbooks


def test_runbooks_are_linked_and_indexed():
    linked = {
        RUNBOOK_URL.match(rule["annotations"]["runbook_url"])["name"]
        for _, rule in ALERT_RULES
        if RUNBOOK_URL.match(rule.get("annotations", {}).get("runbook_url", ""))
    }
    runbooks = {p.name for p in RUNBOOKS_DIR.glob("*.md")} - {"README.md"}
    assert not runbooks - linked, f"runbooks no alert links to: {sorted(runbooks - linked)}"

    index = (RUNBOOKS_DIR / "README.md").read_text(encoding="utf-8")
    for name in sorted(linked):
        assert f"]({name})" in index, f"README.md does not link {name}"
    for alert in ALERT_IDS:
        assert alert in index, f"README.md does not list {alert}"


# Alertmanager


def test_alertmanager_routes_and_receiver():
    config = _load(ALERTMANAGER_CONFIG)
    route = config["route"]
    assert route["group_by"] == ["alertname", "model"]
    for key in ("group_wait", "group_interval", "repeat_interval"):
        assert key in route

    gpu_routes = [
        r for r in route.get("routes", []) if 'category="gpu_node"' in r.get("matchers", [])
    ]
    assert len(gpu_routes) == 1
    assert gpu_routes[0]["group_by"] == ["alertname", "cluster"]

    receivers = {r["name"]: r for r in config["receivers"]}
    names = {
        route["receiver"],
        *(r.get("receiver", route["receiver"]) for r in route.get("routes", [])),
    }
    for name in names:
        (webhook,) = receivers[name]["webhook_configs"]
        assert webhook["url"] == WEBHOOK_URL
        assert webhook["send_resolved"] is True
        assert webhook["max_alerts"] == 1000
        authorization = webhook["http_config"]["authorization"]
        assert authorization.get("type", "Bearer") == "Bearer"
        assert authorization["credentials_file"] == "/etc/alertmanager/oncall-webhook-token"
        assert "credentials" not in authorization, "no inline secrets in the shipped config"
