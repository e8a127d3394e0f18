"""Real Prometheus, Alertmanager and `oncall serve` on free loopback ports, for end-to-end tests.

Each component runs from a temporary folder and writes its output to a log file there. The
rules and the Alertmanager config are derived from the shipped ones in `deploy/`, with only the
timings shortened, so that what the tests exercise is what ships.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
CATALOG = ROOT / "tests" / "fixtures" / "oncall.yaml"
WEBHOOK_PATH = "/api/v1/alerts/alertmanager"

# Generous: a loaded 2-core CI machine may take a while to start a Go binary and a Python app.
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
START_ATTEMPTS = 3
# The service must not pick up credentials or a database from the developer's shell.
PRIVATE_ENV_PREFIXES = ("ONCALL_", "SLACK_", "PAGERDUTY_")
# The oncall command, run with the interpreter of this test run (no reliance on PATH).
ONCALL_COMMAND = (sys.executable, "-m", "oncall.cli")

T = TypeVar("T")


def http() -> httpx.Client:
    """A client for loopback addresses only: never through a proxy from the environment."""
    return httpx.Client(timeout=5.0, trust_env=False)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(
    what: str,
    fetch: Callable[[], T],
    until: Callable[[T], bool],
    *,
    timeout: float,
    interval: float = 0.5,
) -> T:
    """Poll `fetch` until `until` holds for its result; fail after `timeout` seconds, showing
    the last result (or error) so that the failure says how far things got."""
    deadline = time.monotonic() + timeout
    last: object = "nothing yet"
    while True:
        try:
            value = fetch()
        except (httpx.HTTPError, OSError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if until(value):
                return value
            last = value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not seen within {timeout:.0f} s; last seen: {last!r}")
        time.sleep(interval)


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PRIVATE_ENV_PREFIXES)}
    env.update(extra or {})
    return env


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, children get SIGTERM if the test run is killed (a CI timeout), so no
    Prometheus is left holding a port. Elsewhere the fixtures' own cleanup has to do."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # loaded before the fork, not in the child
    except OSError:
        return None
    pr_set_pdeathsig = 1

    def set_pdeathsig() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)

    return set_pdeathsig


class ManagedProcess:
    """A child process whose stdout and stderr go to a log file; `stop` always ends it."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as log:  # append: earlier attempts stay readable
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                preexec_fn=_die_with_parent(),  # only a prctl call runs between fork and exec
            )

    @property
    def exited(self) -> bool:
        return self.popen.poll() is not None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it has not ended within STOP_TIMEOUT; returns its exit code."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(STOP_TIMEOUT)
        return self.popen.returncode


def _ready(process: ManagedProcess, url: str) -> bool:
    """Whether `url` answers 200 before STARTUP_TIMEOUT passes or the process exits."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with http() as client:
        while time.monotonic() < deadline and not process.exited:
            try:
                if client.get(url).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    return False


def start_on_free_port(
    name: str,
    log_path: Path,
    command: Callable[[int], list[str]],
    ready_url: Callable[[int], str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[ManagedProcess, int]:
    """Start `command(port)` on a free port and wait until `ready_url(port)` answers 200.

    A free port can be taken by someone else between the check and the bind: when the process
    exits early, try again on another port; after START_ATTEMPTS, fail with its log."""
    problem = ""
    for _attempt in range(START_ATTEMPTS):
        port = free_port()
        process = ManagedProcess(name, command(port), log_path, env=env, cwd=cwd)
        try:
            if _ready(process, ready_url(port)):
                return process, port
        except BaseException:  # interrupted while waiting: do not leave it running
            process.stop()
            raise
        if process.exited:
            problem = f"{name} exited with code {process.popen.returncode}"
            continue
        process.stop()
        problem = f"{name} not ready within {STARTUP_TIMEOUT:.0f} s"
        break
    raise RuntimeError(f"{problem}; the end of its log ({log_path}):\n{tail(log_path)}")


# --- the exporter ------------------------------------------------------------------------------

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class MetricsExporter:
    """A stand-in for a drift job's and the DCGM exporter's `/metrics`: gauges the test sets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gauges: dict[str, dict[Labels, float]] = {}
        self.scrapes = 0
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exporter.render().encode()
                with exporter._lock:
                    exporter.scrapes += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one line per scrape each second is noise

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="e2e-metrics-exporter",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(STOP_TIMEOUT)

    def set(self, name: str, labels: Mapping[str, str], value: float) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._gauges.setdefault(name, {})[key] = value

    def render(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        out: list[str] = []
        with self._lock:
            for name, series in sorted(self._gauges.items()):
                out.append(f"# TYPE {name} gauge")
                for labels, value in sorted(series.items()):
                    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                    out.append(f"{name}{{{inner}}} {_number(value)}")
        return "\n".join(out) + "\n"


# --- the oncall service ------------------------------------------------------------------------


@dataclass
class OncallService:
    url: str
    token: str
    database_url: str
    process: ManagedProcess

    @property
    def webhook_url(self) -> str:
        return self.url + WEBHOOK_PATH


def _oncall(workdir: Path, env: Mapping[str, str], *args: str) -> None:
    done = subprocess.run(
        [*ONCALL_COMMAND, *args],
        env=dict(env),
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"`oncall {' '.join(args)}` failed with code {done.returncode}:\n"
            f"{done.stdout}\n{done.stderr}"
        )


@contextlib.contextmanager
def running_oncall(workdir: Path) -> Iterator[OncallService]:
    """`oncall serve` on a migrated SQLite database holding the example catalog; the webhook
    requires a bearer token."""
    token = secrets.token_urlsafe(24)
    database_url = f"sqlite:///{workdir / 'oncall.db'}"
    env = child_env({"ONCALL_DATABASE_URL": database_url, "ONCALL_WEBHOOK_TOKEN": token})
    _oncall(workdir, env, "db", "upgrade")
    _oncall(workdir, env, "config", "apply", str(CATALOG))
    process, port = start_on_free_port(
        "oncall serve",
        workdir / "oncall.log",
        lambda port: [*ONCALL_COMMAND, "serve", "--host", "127.0.0.1", "--port", str(port)],
        lambda port: f"http://127.0.0.1:{port}/readyz",
        env=env,
        cwd=workdir,
    )
    try:
        yield OncallService(f"http://127.0.0.1:{port}", token, database_url, process)
    finally:
        process.stop()


# --- Alertmanager ------------------------------------------------------------------------------

_TIMINGS = ("group_wait", "group_interval", "repeat_interval")


def alertmanager_config(webhook_url: str, token: str) -> dict[str, Any]:
    """The shipped alertmanager.yml (routing tree, grouping, receivers) with short timings, the
    test service as the webhook and the token inline instead of in a root-only file."""
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
    route = config["route"]
    route.update(group_wait="1s", group_interval="1s", repeat_interval="1h")

    def inherit_timings(node: dict[str, Any]) -> None:
        for child in node.get("routes", []):
            for key in _TIMINGS:
                child.pop(key, None)
            inherit_timings(child)

    inherit_timings(route)
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = webhook_url
            webhook.setdefault("http_config", {})["authorization"] = {
                "type": "Bearer",
                "credentials": token,
            }
    return config


@contextlib.contextmanager
def running_alertmanager(binary: str, workdir: Path, service: OncallService) -> Iterator[str]:
    """Alertmanager without clustering, posting to `service`; yields its base URL."""
    config_file = workdir / "alertmanager.yml"
    config = alertmanager_config(service.webhook_url, service.token)
    config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    config_file.chmod(0o600)  # it holds the token
    storage = workdir / "alertmanager-data"
    storage.mkdir()
    process, port = start_on_free_port(
        "alertmanager",
        workdir / "alertmanager.log",
        lambda port: [
            binary,
            f"--config.file={config_file}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.external-url=http://127.0.0.1:{port}/",
            "--cluster.listen-address=",  # empty: no gossip port, no peers to wait for
            "--log.level=debug",  # the log then shows each flush and notification
        ],
        lambda port: f"http://127.0.0.1:{port}/-/ready",
        cwd=workdir,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


# --- Prometheus --------------------------------------------------------------------------------


def shipped_rule(alert: str) -> dict[str, Any]:
    """A copy of the alerting rule `alert` from deploy/prometheus/rules."""
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alert:
                    found: dict[str, Any] = copy.deepcopy(rule)
                    return found
    raise LookupError(f"no alerting rule {alert!r} in {RULES_DIR}")


def immediate(rule: Mapping[str, Any]) -> dict[str, Any]:
    """The rule as shipped (expression, labels, annotations) but firing without a `for` wait."""
    return {**copy.deepcopy(dict(rule)), "for": "0s"}


def prometheus_config(alertmanager: str, exporter: str, rule_file: Path) -> dict[str, Any]:
    """Scrape and evaluate every second; `alertmanager` is a base URL, `exporter` a metrics URL."""
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rule_file)],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [urlsplit(alertmanager).netloc]}]}]
        },
        "scrape_configs": [
            {
                "job_name": "e2e-exporter",
                "metrics_path": urlsplit(exporter).path,
                "static_configs": [{"targets": [urlsplit(exporter).netloc]}],
            }
        ],
    }


@contextlib.contextmanager
def running_prometheus(
    binary: str,
    workdir: Path,
    *,
    alertmanager: str,
    exporter: str,
    rules: list[dict[str, Any]],
) -> Iterator[str]:
    """Prometheus scraping `exporter` every second and evaluating `rules`; yields its base URL.

    The resend delay stays at its default (1m): the first notification of an alert and its
    resolution are sent at once anyway, and a short delay would shorten the `endsAt` that
    Prometheus sends (4 x the delay), so a stalled CI machine could let Alertmanager time a
    firing alert out and resolve it behind the test's back."""
    rule_file = workdir / "rules.yml"
    rule_file.write_text(
        yaml.safe_dump({"groups": [{"name": "e2e", "rules": rules}]}, sort_keys=False),
        encoding="utf-8",
    )
    config_file = workdir / "prometheus.yml"
    config = prometheus_config(alertmanager, exporter, rule_file)
    config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    storage = workdir / "prometheus-data"
    storage.mkdir()
    process, port = start_on_free_port(
        "prometheus",
        workdir / "prometheus.log",
        lambda port: [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            # Else the alerts' generatorURL names the host, which may not resolve.
            f"--web.external-url=http://127.0.0.1:{port}/",
        ],
        lambda port: f"http://127.0.0.1:{port}/-/ready",
        cwd=workdir,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


# --- the whole stack ---------------------------------------------------------------------------


@dataclass
class Stack:
    exporter: MetricsExporter
    service: OncallService
    alertmanager: str
    prometheus: str
    logs: dict[str, Path] = field(default_factory=dict)

    def incidents(self) -> list[dict[str, Any]]:
        with http() as client:
            response = client.get(self.service.url + "/api/v1/incidents")
            response.raise_for_status()
            found: list[dict[str, Any]] = response.json()
            return found

    def incident(self, incident_id: int) -> dict[str, Any]:
        with http() as client:
            response = client.get(f"{self.service.url}/api/v1/incidents/{incident_id}")
            response.raise_for_status()
            found: dict[str, Any] = response.json()
            return found

    def diagnostics(self) -> list[tuple[str, str]]:
        """What each component holds now and the end of its log, for a failing test's report."""
        sections: list[tuple[str, str]] = []
        probes = {
            "prometheus alerts": self.prometheus + "/api/v1/alerts",
            "alertmanager alerts": self.alertmanager + "/api/v2/alerts",
            "oncall incidents": self.service.url + "/api/v1/incidents",
        }
        with http() as client:
            for title, url in probes.items():
                try:
                    sections.append((title, client.get(url, timeout=2.0).text[:4000]))
                except httpx.HTTPError as exc:
                    sections.append((title, f"(no answer from {url}: {exc})"))
        sections.append(("exporter /metrics", self.exporter.render()))
        for name, path in self.logs.items():
            sections.append((f"{name} log (last 40 lines of {path})", tail(path)))
        return sections


@contextlib.contextmanager
def running_stack(
    workdir: Path, *, rules: list[dict[str, Any]], prometheus_binary: str, alertmanager_binary: str
) -> Iterator[Stack]:
    """Exporter, service, Alertmanager, Prometheus, started in the order they are needed and
    stopped in reverse, whatever happens in between."""
    with contextlib.ExitStack() as started:
        exporter = MetricsExporter()
        exporter.start()
        started.callback(exporter.stop)
        service = started.enter_context(running_oncall(workdir))
        alertmanager = started.enter_context(
            running_alertmanager(alertmanager_binary, workdir, service)
        )
        prometheus = started.enter_context(
            running_prometheus(
                prometheus_binary,
                workdir,
                alertmanager=alertmanager,
                exporter=exporter.url,
                rules=rules,
            )
        )
        # Prometheus hands new targets to its scrapers only every 5 s: wait for the first
        # scrape here, so that a test's deadline covers only the alert's own path.
        wait_for(
            "Prometheus scraping the test exporter",
            lambda: exporter.scrapes,
            lambda scrapes: scrapes > 0,
            timeout=STARTUP_TIMEOUT,
            interval=0.2,
        )
        yield Stack(
            exporter,
            service,
            alertmanager,
            prometheus,
            logs={
                "prometheus": workdir / "prometheus.log",
                "alertmanager": workdir / "alertmanager.log",
                "oncall serve": workdir / "oncall.log",
            },
        )
