"""A local Slack Web API that records every call (as bolt-python's own tests do with their
mock server): `calls(method)` returns the bodies received, `wait_for` waits for lazy work."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

AUTH_TEST = {
    "ok": True,
    "url": "https://oncall-test.slack.com/",
    "team": "Test",
    "user": "oncall",
    "team_id": "T0TEST0001",
    "user_id": "U0BOT00001",
    "bot_id": "B0BOT00001",
    "is_enterprise_install": False,
}


@dataclass
class Call:
    method: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class SlackStub:
    server: ThreadingHTTPServer
    recorded: list[Call] = field(default_factory=list)
    # method -> (status, body, headers) to answer instead of ok
    answers: dict[str, tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/api/"

    def calls(self, method: str) -> list[dict[str, Any]]:
        with self.lock:
            return [c.body for c in self.recorded if c.method == method]

    def methods(self) -> list[str]:
        with self.lock:
            return [c.method for c in self.recorded]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.calls(method)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"Slack got {self.methods()}, not {count} x {method}")

    def clear(self) -> None:
        with self.lock:
            self.recorded.clear()


def start_stub() -> SlackStub:
    stub: SlackStub

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def do_POST(self) -> None:
            method = self.path.rsplit("/", 1)[-1]
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if "json" in (self.headers.get("Content-Type") or ""):
                body = json.loads(raw or "{}")
            else:
                body = dict(parse_qsl(raw))
            with stub.lock:
                stub.recorded.append(Call(method, body, dict(self.headers)))
                status, answer, headers = stub.answers.get(method, (200, {}, {}))
            if not answer:
                answer = {"ok": True}
                if method == "auth.test":
                    answer = AUTH_TEST
                elif method in ("views.open", "views.update", "views.publish"):
                    answer = {"ok": True, "view": {"id": "V0VIEW0001", **body.get("view", {})}}
                elif method == "chat.postMessage":
                    answer = {"ok": True, "channel": body.get("channel"), "ts": "1700000000.000100"}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stub = SlackStub(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return stub
