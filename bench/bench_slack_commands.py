"""Slash-command ack latency: signed `/oncall who` and `/oncall incidents` requests, 20 at a
time, into `oncall serve` as deployed, beside a bare Bolt app behind FastAPI in the same run.

    python bench/bench_slack_commands.py [--requests N] [--concurrency C] [--quick]

Servers, each a subprocess on a free 127.0.0.1 port, one at a time, with the same uvicorn:

- bare-default: Bolt's FastAPI example (`App()`, `SlackRequestHandler`), a listener that only
  acks: Bolt's sync default, where the ack is awaited by polling from a worker thread;
- bare-before-response: the same app with `process_before_response=True`;
- oncall: the real `oncall serve` (after `oncall db upgrade` and the example catalog, with a
  few incidents opened through the webhook), whose listeners do the real lookups: who is on
  call in every rotation, the open incidents.

Bolt calls `auth.test` when it starts: a local stub of the Web API answers it. The load comes
from `wrk` (C, one thread, C keep-alive connections sending back to back) with requests signed
for real beforehand and sent in turn; without wrk on the PATH (Debian: `apt-get install wrk`),
or with `--client httpx`, from an asyncio httpx client with C tasks, whose own event loop adds
a tail of its own (see bench/README.md). Latency is from sending the request to reading the
whole answer. Figures are
absolute and as ratios to the bare apps of the same run (the machine is shared and noisy);
the target is oncall's p99 under 50 ms. The exit code is 0 whatever the speed; 1 when an
answer was wrong (not 200, or not the command's text); 2 when the run itself broke.
"""

# No `from __future__ import annotations`: FastAPI reads the bare app's route annotations.
import argparse
import asyncio
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
SECRET = "bench-signing-secret-0123456789"
TOKEN = "xoxb-bench-0001"
USERS = ["U0EMILY001", "U0RYAN0001", "U0TAKA0001", "U0ANA00001", "U0BEN00001"]
TARGET_P99_MS = 50.0


# --- the Web API stub (auth.test at start-up) ---------------------------------------------


def start_slack_stub() -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps(
                {
                    "ok": True,
                    "team_id": "T0BENCH001",
                    "user_id": "U0BOT00001",
                    "bot_id": "B0BOT00001",
                    "team": "bench",
                    "user": "oncall",
                    "url": "https://bench.slack.com/",
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((HOST, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{HOST}:{server.server_address[1]}/api/"


# --- the bare Bolt apps (a subprocess: --serve-bare MODE PORT STUB) -------------------------


def serve_bare(mode: str, port: int, stub_url: str) -> None:
    import uvicorn
    from fastapi import FastAPI, Request
    from slack_bolt import App
    from slack_bolt.adapter.fastapi import SlackRequestHandler
    from slack_sdk import WebClient

    bolt = App(
        client=WebClient(token=TOKEN, base_url=stub_url),
        signing_secret=SECRET,
        process_before_response=mode == "before-response",
    )

    @bolt.command("/oncall")
    def _command(ack: Any) -> None:
        ack("ok")

    handler = SlackRequestHandler(bolt)
    api = FastAPI()

    @api.post("/slack/events")
    async def _events(req: Request) -> Any:
        return await handler.handle(req)

    @api.get("/readyz")
    def _ready() -> dict[str, str]:
        return {"status": "ok"}

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # As `oncall serve` runs uvicorn: INFO, with the access log.
    uvicorn.run(api, host=HOST, port=port, log_level="info", proxy_headers=True)


# --- servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def oncall_env(workdir: Path, stub_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ONCALL_"))}
    env.update(
        ONCALL_DATABASE_URL=f"sqlite:///{workdir / 'oncall.db'}",
        ONCALL_CONFIG=str(ROOT / "oncall" / "examples" / "oncall.yaml"),
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        ONCALL_SLACK_API_URL=stub_url,
    )
    return env


def start_oncall(workdir: Path, stub_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    oncall = str(Path(sys.executable).parent / "oncall")
    env = oncall_env(workdir, stub_url)
    subprocess.run([oncall, "db", "upgrade"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen(
        [oncall, "serve", "--host", HOST, "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    wait_ready(f"http://{HOST}:{port}/readyz", proc)
    for name in ("drift-firing", "batch-failure-firing", "gpu-xid-firing"):
        body = (ROOT / "oncall" / "examples" / "alertmanager" / f"{name}.json").read_bytes()
        request = urllib.request.Request(
            f"http://{HOST}:{port}/api/v1/alerts/alertmanager",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()
    return proc


def start_bare(mode: str, stub_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-bare", mode, str(port), stub_url],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    wait_ready(f"http://{HOST}:{port}/readyz", proc)
    return proc


# --- the load ------------------------------------------------------------------------------


def signed(text: str, user: str, n: int) -> tuple[bytes, dict[str, str]]:
    body = urlencode(
        {
            "team_id": "T0BENCH001",
            "channel_id": "C0GROWTH01",
            "user_id": user,
            "command": "/oncall",
            "text": text,
            "response_url": "http://127.0.0.1:9/",
            "trigger_id": f"bench.{n}.trigger",
        }
    )
    ts = str(int(time.time()))
    signature = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": "v0=" + signature.hexdigest(),
    }
    return body.encode(), headers


async def load(port: int, requests: int, concurrency: int, check: bool) -> tuple[list[float], int]:
    import httpx

    url = f"http://{HOST}:{port}/slack/events"
    latencies: list[float] = []
    wrong = 0
    counter = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal wrong
            for n in counter:
                text = "who" if n % 2 == 0 else "incidents"
                body, headers = signed(text, USERS[n % len(USERS)], n)
                start = time.perf_counter()
                answer = await client.post(url, content=body, headers=headers)
                latencies.append((time.perf_counter() - start) * 1000)
                if answer.status_code != 200:
                    wrong += 1
                elif check:
                    said = answer.json().get("text", "")
                    if ("growth-primary" if text == "who" else "#") not in said:
                        wrong += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, wrong


WRK_SCRIPT = """
local reqs = {}
%(requests)s
local i = 0
wrong = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
request = function() i = i %% #reqs + 1; return reqs[i] end
response = function(status, headers, body)
  if status ~= 200 or not (body:find(%(a)s, 1, true) or body:find(%(b)s, 1, true)) then
    wrong = wrong + 1
  end
end
done = function(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("wrong") end
  local e = summary.errors
  io.write(string.format("RESULT p50 %%.3f p99 %%.3f mean %%.3f requests %%d wrong %%d\\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.mean / 1000,
    summary.requests, bad + e.connect + e.read + e.write + e.timeout))
end
"""


def wrk_script(path: Path, check: bool, count: int = 400) -> None:
    """A wrk script sending `count` signed commands in turn and counting wrong answers."""
    lines = []
    for n in range(count):
        body, headers = signed("who" if n % 2 == 0 else "incidents", USERS[n % len(USERS)], n)
        head = ", ".join(f'["{k}"] = {json.dumps(v)}' for k, v in headers.items())
        lines.append(
            f'reqs[{n + 1}] = wrk.format("POST", "/slack/events", {{{head}}}, '
            f"{json.dumps(body.decode())})"
        )
    a, b = ('"growth-primary"', '"#"') if check else ('"ok"', '"ok"')
    path.write_text(WRK_SCRIPT % {"requests": "\n".join(lines), "a": a, "b": b})


def wrk_load(port: int, script: Path, seconds: float, concurrency: int) -> dict[str, float]:
    answer = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{concurrency}",
            f"-d{max(1, round(seconds))}s",
            "-s",
            str(script),
            f"http://{HOST}:{port}/slack/events",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    found = re.search(
        r"RESULT p50 (\S+) p99 (\S+) mean (\S+) requests (\d+) wrong (\d+)", answer.stdout
    )
    if found is None:
        raise RuntimeError(f"wrk said: {answer.stdout} {answer.stderr}")
    p50, p99, mean, requests, wrong = found.groups()
    return {
        "p50": float(p50),
        "p99": float(p99),
        "mean": float(mean),
        "requests": float(requests),
        "wrong": float(wrong),
    }


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), a figure the machine's noise moves
    less than latency."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    name: str, proc: subprocess.Popen[bytes], port: int, args: argparse.Namespace, check: bool
) -> dict[str, float]:
    if args.client == "wrk":
        script = Path(tempfile.mkdtemp(prefix="oncall-bench-wrk-")) / f"{name}.lua"
        wrk_script(script, check)
        wrk_load(port, script, 2, args.concurrency)  # warm-up
        cpu = cpu_seconds(proc.pid)
        figures = wrk_load(port, script, args.seconds, args.concurrency)
        cpu = cpu_seconds(proc.pid) - cpu
        figures["cpu_ms"] = cpu * 1000 / max(1.0, figures["requests"])
        shutil.rmtree(script.parent, ignore_errors=True)
    else:
        asyncio.run(load(port, min(100, args.requests), args.concurrency, False))  # warm-up
        cpu = cpu_seconds(proc.pid)
        latencies, wrong = asyncio.run(load(port, args.requests, args.concurrency, check))
        cpu = cpu_seconds(proc.pid) - cpu
        figures = {
            "cpu_ms": cpu * 1000 / args.requests,
            "p50": pct(latencies, 50),
            "p99": pct(latencies, 99),
            "mean": statistics.fmean(latencies),
            "requests": float(args.requests),
            "wrong": float(wrong),
        }
    print(
        f"  {name:<22} p50 {figures['p50']:7.1f} ms   p99 {figures['p99']:7.1f} ms   "
        f"mean {figures['mean']:6.1f} ms   server CPU {figures['cpu_ms']:5.2f} ms/request   "
        f"requests {int(figures['requests'])}   wrong answers {int(figures['wrong'])}",
        flush=True,
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0, help="per server, with wrk")
    parser.add_argument(
        "--client",
        choices=("wrk", "httpx"),
        default="wrk" if shutil.which("wrk") else "httpx",
        help="the load generator (default: wrk when it is on the PATH)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 200 requests / 2 s")
    parser.add_argument("--serve-bare", nargs=3, metavar=("MODE", "PORT", "STUB"))
    args = parser.parse_args()
    if args.serve_bare:
        mode, port, stub_url = args.serve_bare
        serve_bare(mode, int(port), stub_url)
        return 0
    if args.quick:
        args.requests, args.seconds = 200, 2.0
    stub, stub_url = start_slack_stub()
    workdir = Path(tempfile.mkdtemp(prefix="oncall-bench-slack-"))
    results: dict[str, dict[str, float]] = {}
    print(f"load average before the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    amount = f"{args.seconds:g} s per server" if args.client == "wrk" else f"{args.requests}"
    print(
        f"slash-command ack latency ({args.client}): {amount} of signed requests, "
        f"{args.concurrency} at a time (who / incidents alternating), logs in {workdir}",
        flush=True,
    )
    try:
        for name in ("bare-default", "bare-before-response", "oncall"):
            port = free_port()
            log = workdir / f"{name}.log"
            proc = (
                start_oncall(workdir, stub_url, port, log)
                if name == "oncall"
                else start_bare(name.removeprefix("bare-"), stub_url, port, log)
            )
            try:
                results[name] = measure(name, proc, port, args, check=name == "oncall")
            finally:
                stop(proc)
    except Exception as exc:
        print(f"the run broke: {exc}", file=sys.stderr)
        return 2
    finally:
        stub.shutdown()
    ours = results["oncall"]
    for base in ("bare-default", "bare-before-response"):
        print(
            f"  oncall / {base:<21} p99 ratio {ours['p99'] / results[base]['p99']:5.2f}   "
            f"p50 ratio {ours['p50'] / results[base]['p50']:5.2f}   "
            f"CPU ratio {ours['cpu_ms'] / results[base]['cpu_ms']:5.2f}"
        )
    verdict = "meets" if ours["p99"] < TARGET_P99_MS else "misses"
    print(f"  target: oncall p99 < {TARGET_P99_MS:.0f} ms: {verdict} ({ours['p99']:.1f} ms)")
    shutil.rmtree(workdir, ignore_errors=True)
    return 1 if any(r["wrong"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
