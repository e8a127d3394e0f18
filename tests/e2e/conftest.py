"""End-to-end fixtures: one real Prometheus + Alertmanager + `oncall serve` per test module.

They skip with the package to install when the binaries are absent, always stop what they
started, and add what each component holds and the end of its log to a failing test's report.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_stack import Stack, immediate, running_stack, shipped_rule

# The shipped rules the stack evaluates, each with `for: 0s` so that the tests are fast.
E2E_ALERTS = ("ModelDriftHigh", "GPUXidError")


def _binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (Debian package {package})")
    return path


@pytest.fixture(scope="module")
def e2e_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus = _binary("prometheus", "prometheus")
    alertmanager = _binary("prometheus-alertmanager", "prometheus-alertmanager")
    workdir = tmp_path_factory.mktemp("e2e")
    with running_stack(
        workdir,
        rules=[immediate(shipped_rule(alert)) for alert in E2E_ALERTS],
        prometheus_binary=prometheus,
        alertmanager_binary=alertmanager,
    ) as stack:
        yield stack


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and report.when == "call":
        stack = getattr(item, "funcargs", {}).get("e2e_stack")
        if isinstance(stack, Stack):
            report.sections.extend(stack.diagnostics())
    return report
