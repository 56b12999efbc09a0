"""Request id, access log and metrics for every request (a plain ASGI middleware), and
absolute-form request targets read as origin-form whatever HTTP parser uvicorn runs."""

from __future__ import annotations

import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zhifu.logging import get_logger
from zhifu.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = get_logger("zhifu.http")


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
            HTTP_LATENCY.labels(method=method, route=route).observe(elapsed)
            log.info(
                "request", method=method, route=route, status=status, ms=round(elapsed * 1000, 2)
            )
            structlog.contextvars.unbind_contextvars("request_id")


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if 0 < len(text) <= 64 and text.replace("-", "").isalnum():
                return text
    return None


class OriginForm:
    """Reads an absolute-form request target (`POST http://host/gateway.do?... HTTP/1.1`,
    as Ant's official Alipay SDK sends it) as its path. uvicorn's httptools parser does
    that already; with h11 the scope's path would be `http://host/gateway.do` (a 404)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/"):
            scope = {**scope, "path": origin_path(scope["path"])}
            if raw := scope.get("raw_path"):
                scope["raw_path"] = origin_path(raw.decode("latin-1")).encode("latin-1")
        await self.app(scope, receive, send)


def origin_path(target: str) -> str:
    """`http://host:port/a/b` -> `/a/b`; `http://host` -> `/`; anything else unchanged."""
    scheme, separator, rest = target.partition("://")
    if not separator or not scheme.isalpha():
        return target
    slash = rest.find("/")
    return "/" if slash < 0 else rest[slash:]
