"""A local Slack Web API stub that records every call (as bolt-python's own tests do).

Answers like Slack: `chat.postMessage` gets a channel id and a fresh `ts`, `chat.update`
echoes its `ts`, other methods `{"ok": true}`. `script(method, ...)` queues answers for the
next calls of a method (a 429 with Retry-After, an error such as `not_in_channel`, a 500)."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

AUTH_TEST = {
    "ok": True,
    "url": "https://oncall-test.slack.com/",
    "team": "oncall-test",
    "user": "oncall",
    "team_id": "T0TEST0001",
    "user_id": "U0BOT00001",
    "bot_id": "B0BOT00001",
}


@dataclass
class Call:
    method: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float  # time.monotonic() when received


@dataclass
class Answer:
    status: int = 200
    body: dict[str, Any] | str = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)


class SlackStub:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._scripted: dict[str, deque[Answer]] = defaultdict(deque)
        self._guard = threading.Lock()
        self._ts = 1_700_000_000
        self._received = threading.Condition(self._guard)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                method = self.path.rsplit("/", 1)[-1]
                answer = stub._answer(method, body, dict(self.headers))
                data = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
                encoded = data.encode("utf-8")
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(encoded)))
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(encoded)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> SlackStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def script(self, method: str, *answers: Answer) -> None:
        with self._guard:
            self._scripted[method].extend(answers)

    def _answer(self, method: str, body: dict[str, Any], headers: dict[str, str]) -> Answer:
        with self._received:
            self.calls.append(Call(method, body, headers, time.monotonic()))
            self._received.notify_all()
            if self._scripted[method]:
                return self._scripted[method].popleft()
            if method == "chat.postMessage":
                self._ts += 1
                channel = str(body.get("channel", ""))
                if channel.startswith("#"):  # Slack answers with the channel's id
                    channel = "C" + channel[1:].upper().replace("-", "")[:9]
                return Answer(body={"ok": True, "channel": channel, "ts": f"{self._ts}.000100"})
            if method == "chat.update":
                return Answer(
                    body={"ok": True, "channel": body.get("channel"), "ts": body.get("ts")}
                )
            if method == "auth.test":
                return Answer(body=AUTH_TEST)
            return Answer()

    def of(self, method: str) -> list[Call]:
        with self._guard:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        with self._received:
            while True:
                found = [c for c in self.calls if c.method == method]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    return found
                self._received.wait(left)
