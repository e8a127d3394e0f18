"""The wheel carries what the service needs at run time: migrations, runbooks, the example
catalog and payloads. `oncall db upgrade` must work from an installed wheel, not a checkout.

A checkout keeps the migrations in alembic/ and the runbooks in runbooks/, at the top; the wheel
carries them inside the package as oncall/migrations and oncall/runbooks."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from oncall import migrate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("hatchling", reason="hatchling (the build backend) is not installed")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = out.glob("ds_oncall-*.whl")
    return built


def test_wheel_contains_migrations_runbooks_and_examples(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "oncall/migrations/env.py" in names
    assert "oncall/migrations/script.py.mako" in names
    assert any(n.startswith("oncall/migrations/versions/0001_") for n in names)
    assert "oncall/runbooks/model-drift.md" in names
    assert "oncall/prometheus_rules/model-drift.rules.yml" in names  # the demo's Prometheus
    assert "oncall/examples/oncall.yaml" in names
    assert "oncall/examples/alertmanager/drift-firing.json" in names
    assert "oncall/py.typed" in names
    assert not any(n.startswith("tests/") for n in names)
    # At the top of site-packages, alembic/ would shadow the Alembic library itself.
    assert not any(n.startswith(("alembic/", "runbooks/")) for n in names)


def test_db_upgrade_and_runbooks_work_from_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # Run from an empty folder with the installed copy first on the path: no checkout in reach.
    env = {
        **os.environ,
        "PYTHONPATH": str(target),
        "ONCALL_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
    }
    work = tmp_path / "elsewhere"
    work.mkdir()
    probe = subprocess.run(
        [sys.executable, "-c", "import oncall, sys; print(oncall.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip().startswith(str(target))
    located = subprocess.run(
        [
            sys.executable,
            "-c",
            "from oncall.shipped import shipped_folder as f;"
            "print(f('migrations')); print(f('runbooks'))",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert located.stdout.split() == [
        str(target / "oncall" / "migrations"),
        str(target / "oncall" / "runbooks"),
    ]
    upgraded = subprocess.run(
        [sys.executable, "-m", "oncall.cli", "db", "upgrade"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"upgraded empty -> {migrate.head_revision()}" in upgraded.stdout
    served = subprocess.run(
        [
            sys.executable,
            "-c",
            "from fastapi.testclient import TestClient; from oncall.app import create_app;"
            "c = TestClient(create_app(background=False));"
            "r = c.get('/runbooks/model-drift.md'); print(r.status_code, r.text.splitlines()[0])",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert served.returncode == 0, served.stderr
    assert served.stdout.startswith("200 #")
