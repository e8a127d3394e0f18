"""Alert to Slack: from the webhook's answer to the Slack stub receiving chat.postMessage.

    python bench/bench_slack_delivery.py [--samples N] [--quick] [--logs DIR]

It starts, on 127.0.0.1 ports:

- a Slack Web API stub in this process (tests/slack_delivery/delivery_stub.py): it records
  when each call arrives (time.monotonic, the clock the client uses too);
- oncall: the real `oncall serve --host 127.0.0.1 --port P` of this venv, as a subprocess,
  after `oncall db upgrade` and `oncall config apply` of a generated catalog (20 teams, each
  with its own channel, person, rotation and model) on a fresh SQLite file, with
  SLACK_BOT_TOKEN set and ONCALL_SLACK_API_URL pointing at the stub: the outbox worker posts
  to the stub as it would to Slack;
- baseline: a bare FastAPI app served by `uvicorn.run` in a subprocess the same way, whose
  webhook route parses the body, hands it to a thread and answers; the thread posts
  chat.postMessage with slack_sdk's WebClient to the same stub. It is the floor of the path
  (HTTP in, a client call out) without a database, an outbox or Block Kit.

Alerts go one at a time, each a new group of a model whose channel has had no incident in the
last 5 s, so neither the pacing (1 post a second per channel) nor storms (more than 3 incidents
in 10 s) come into play: this measures one incident's way to Slack. The sides alternate in
rounds. Figures are absolute and as a ratio to the baseline; target p50 < 500 ms. Nothing is
asserted; the exit code is 2 only when the run itself broke.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import queue
import re
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "slack_delivery"))

from bench_ingest import (  # noqa: E402
    HOST,
    Server,
    _child_env,
    _exit_cleanly,
    oncall_command,
    percentile,
    run_cli,
)
from delivery_stub import SlackStub  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from slack_sdk import WebClient  # noqa: E402

TEAMS = 20
INTERVAL_SECONDS = 0.25  # one alert every 250 ms: each channel gets one every 5 s
FIXTURE = ROOT / "tests" / "fixtures" / "alertmanager" / "drift-firing.json"
TARGET_P50_MS = 500.0
_INCIDENT_LINK = re.compile(r"/incidents/(\d+)")


def catalog_yaml() -> str:
    lines = ["timezone: UTC", "teams:"]
    for i in range(TEAMS):
        lines.append(f"  - {{id: t{i}, name: Team {i}, slack_channel: C0BENCH{i:03d}}}")
    lines.append("people:")
    for i in range(TEAMS):
        lines.append(
            f"  - {{id: p{i}, name: Person {i}, slack_user: U0BENCH{i:03d}, timezone: UTC}}"
        )
    lines.append("rotations:")
    for i in range(TEAMS):
        lines += [
            f"  - id: r{i}",
            f"    team: t{i}",
            "    timezone: UTC",
            "    layers:",
            f"      - {{members: [p{i}], start: 2026-01-05T09:00, shift: 1d}}",
        ]
    lines += [
        "escalation_policies:",
        "  - id: default",
        "    steps:",
        "      - {after: 0m, notify: [oncall]}",
        "      - {after: 15m, notify: [pagerduty]}",
        "models:",
    ]
    for i in range(TEAMS):
        lines.append(
            f"  - {{id: m{i}, name: Model {i}, team: t{i}, rotation: r{i},"
            " escalation_policy: default}"
        )
    return "\n".join(lines) + "\n"


def alert_body(n: int) -> bytes:
    body: dict[str, Any] = json.loads(FIXTURE.read_text("utf-8"))
    model = f"m{n % TEAMS}"
    body["groupKey"] = f'{{}}:{{alertname="ModelDriftHigh", model="{model}", n="{n}"}}'
    body["groupLabels"] = {"alertname": "ModelDriftHigh", "model": model}
    body["commonLabels"] = dict(body["commonLabels"], model=model)
    for alert in body["alerts"]:
        alert["labels"] = dict(alert["labels"], model=model)
        alert["fingerprint"] = f"{n:016x}"
    return json.dumps(copy.deepcopy(body)).encode()


# --- the baseline ------------------------------------------------------------------------------


def build_baseline_app(stub_url: str) -> FastAPI:
    app = FastAPI()
    work: queue.SimpleQueue[tuple[str, int]] = queue.SimpleQueue()
    client = WebClient(token="xoxb-bench-baseline", base_url=stub_url, retry_handlers=[])

    def post() -> None:
        while True:
            channel, n = work.get()
            client.api_call(
                "chat.postMessage",
                json={"channel": channel, "text": f"incident /incidents/{n}"},
            )

    threading.Thread(target=post, daemon=True).start()
    counter = iter(range(1, 1 << 62))

    @app.post("/api/v1/alerts/alertmanager")
    async def webhook(request: Request) -> dict[str, int]:
        body = json.loads(await request.body())
        n = next(counter)
        work.put((f"C0BENCH{int(body['commonLabels']['model'][1:]):03d}", n))
        return {"incident_id": n}

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve_baseline(port: int, stub_url: str) -> None:
    import uvicorn

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        build_baseline_app(stub_url),
        host=HOST,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=20,
        proxy_headers=True,
    )


# --- measuring -----------------------------------------------------------------------------


def measure(server: Server, stub: SlackStub, first: int, count: int) -> list[float]:
    """Send `count` alerts one at a time; return each one's ms from answer to post."""
    import httpx

    answered: dict[int, float] = {}
    mark = len(stub.of("chat.postMessage"))  # calls before this slice belong to the other side
    url = f"http://{HOST}:{server.port}/api/v1/alerts/alertmanager"
    with httpx.Client(timeout=30) as client:
        for n in range(first, first + count):
            started = time.monotonic()
            response = client.post(
                url, content=alert_body(n), headers={"Content-Type": "application/json"}
            )
            answered_at = time.monotonic()
            response.raise_for_status()
            answered[int(response.json()["incident_id"])] = answered_at
            time.sleep(max(INTERVAL_SECONDS - (answered_at - started), 0))
    deadline = time.monotonic() + 30
    received: dict[int, float] = {}
    while time.monotonic() < deadline and len(received) < len(answered):
        for call in stub.of("chat.postMessage")[mark:]:
            found = _INCIDENT_LINK.search(json.dumps(call.body))
            if found and int(found.group(1)) in answered:
                received.setdefault(int(found.group(1)), call.at)
        time.sleep(0.05)
    missing = set(answered) - set(received)
    if missing:
        raise RuntimeError(f"{server.name}: no chat.postMessage for incidents {sorted(missing)}")
    return [(received[i] - answered[i]) * 1000 for i in answered]


def summary(name: str, values: list[float]) -> str:
    return (
        f"  {name:9s} n={len(values):3d}  p50 {percentile(values, 50):7.1f} ms  "
        f"p90 {percentile(values, 90):7.1f} ms  p99 {percentile(values, 99):7.1f} ms  "
        f"max {max(values):7.1f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=60, help="alerts per side (default 60)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10 alerts a side, one round")
    parser.add_argument("--logs", type=Path, help="keep the servers' logs in DIR")
    parser.add_argument(
        "--serve-baseline", nargs=2, metavar=("PORT", "STUB_URL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.serve_baseline:
        serve_baseline(int(args.serve_baseline[0]), args.serve_baseline[1])
        return 0
    samples, rounds = (10, 1) if args.quick else (args.samples, args.rounds)
    per_round = max(samples // rounds, 1)

    stub = SlackStub().start()
    with tempfile.TemporaryDirectory(prefix="oncall-bench-slack-") as tmp_name:
        tmp = Path(tmp_name)
        logs = args.logs or tmp
        logs.mkdir(parents=True, exist_ok=True)
        catalog = tmp / "oncall.yaml"
        catalog.write_text(catalog_yaml())
        env = _child_env() | {
            "ONCALL_DATABASE_URL": f"sqlite:///{tmp / 'oncall.db'}",
            "SLACK_BOT_TOKEN": "xoxb-bench-delivery",
            "SLACK_SIGNING_SECRET": "bench-signing-secret-0123456789",
            "ONCALL_SLACK_API_URL": stub.url,
            "ONCALL_PUBLIC_URL": "https://oncall.example.com",
        }
        oncall = str(oncall_command())
        run_cli([oncall, "db", "upgrade"], env, tmp, logs / "setup.log")
        run_cli([oncall, "config", "apply", str(catalog)], env, tmp, logs / "setup.log")
        servers = [
            Server(
                "oncall",
                [oncall, "serve", "--host", HOST, "--port", "{port}"],
                env,
                logs,
            ),
            Server(
                "baseline",
                [sys.executable, __file__, "--serve-baseline", "{port}", stub.url],
                _child_env(),
                logs,
            ),
        ]
        figures: dict[str, list[float]] = {"oncall": [], "baseline": []}
        try:
            for server in servers:
                server.start(tmp)
            n = 0
            for _round in range(rounds):
                for server in reversed(servers):  # baseline first, then oncall
                    figures[server.name] += measure(server, stub, n, per_round)
                    n += per_round
                    time.sleep(6)  # let every channel go quiet before the other side
        except Exception as exc:  # the run broke: say why
            print(f"bench_slack_delivery: {exc}", file=sys.stderr)
            for server in servers:
                print(f"--- {server.name} log ---\n{server.log_tail()}", file=sys.stderr)
            return 2
        finally:
            for server in servers:
                server.stop()
            stub.stop()

    print("Alert to Slack: webhook answer -> stub receives chat.postMessage (one at a time)")
    print(summary("oncall", figures["oncall"]))
    print(summary("baseline", figures["baseline"]))
    ours, floor = percentile(figures["oncall"], 50), percentile(figures["baseline"], 50)
    # The baseline's thread may post before its answer reaches the client (a negative figure).
    ratio = f"{ours / floor:.1f}x" if floor >= 1.0 else f"n/a (baseline p50 {floor:.1f} ms < 1 ms)"
    print(f"  p50 ratio oncall/baseline {ratio}; p50 difference {ours - floor:.1f} ms")
    met = "met" if ours < TARGET_P50_MS else "NOT met"
    print(f"  target p50 < {TARGET_P50_MS:.0f} ms: {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
