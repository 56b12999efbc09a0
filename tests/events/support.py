"""Helpers of the events tests, above all a real webhook receiver: an HTTP server on
127.0.0.1 in a thread, answering each request from a script (a status code, a status
code and a body, or HANG: answer nothing until released), then 200."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.conftest import LOCAL
from zhifu.clock import ManualClock
from zhifu.db import Database
from zhifu.events import Delivery, Event, emit, list_deliveries, set_endpoint
from zhifu.events.queue import schedule_new_events

SECRET = "whsec_test_0123456789abcdef"
HANG = -1  # a scripted reply: hold the request until `release()`, then answer 500
Scripted = int | tuple[int, bytes]  # a status code, or a status code and a body


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event_id(self) -> str:
        return self.headers["Zhifu-Event-Id"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many dispatchers' connections at once


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._script: deque[Scripted] = deque()
        self._default: Scripted = 200
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/webhooks"

    def script(self, replies: Iterable[Scripted], *, then: Scripted = 200) -> None:
        with self._lock:
            self._script.extend(replies)
            self._default = then

    def release(self) -> None:
        self._released.set()

    def event_ids(self) -> list[str]:
        with self._lock:
            return [request.event_id for request in self.received]

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def _next_reply(self, request: Received) -> Scripted:
        with self._lock:
            self.received.append(request)
            return self._script.popleft() if self._script else self._default

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                reply = receiver._next_reply(Received(dict(self.headers.items()), body))
                if reply == HANG:
                    receiver._released.wait(timeout=30)
                    reply = 500
                status, content = reply if isinstance(reply, tuple) else (reply, b"")
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                except OSError:  # the sender gave up waiting
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


async def eventually(check: Callable[[], bool]) -> None:
    """Wait up to 10 s for `check()` to hold (for what happens in other threads)."""
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def subscribe(
    db: Database,
    clock: ManualClock,
    owner: str,
    url: str,
    types: Iterable[str] | None = None,
    secret: str = SECRET,
) -> None:
    await db.transaction(
        lambda conn: set_endpoint(
            conn, owner, url, types, secret, now=clock.now(), destinations=LOCAL
        )
    )


async def emit_event(
    db: Database, clock: ManualClock, owner: str, event_type: str = "trade.paid", **data: Any
) -> Event:
    return await db.transaction(
        lambda conn: emit(conn, owner=owner, event_type=event_type, payload=data, now=clock.now())
    )


async def schedule(db: Database, clock: ManualClock, limit: int = 1000) -> int:
    """One scheduling pass: number committed events and fan them out; how many events."""
    return await db.transaction(lambda conn: schedule_new_events(conn, clock.now(), limit))


async def only_delivery(db: Database, owner: str) -> Delivery:
    async with db.connection() as conn:
        (delivery,) = await list_deliveries(conn, owner)
    return delivery
