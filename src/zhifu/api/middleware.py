"""Plain ASGI middleware: request id, access log and metrics for every request; input
no client means to send refused at the door; and absolute-form request targets read as
origin-form whatever HTTP parser uvicorn runs."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Mapping
from urllib.parse import parse_qsl

import structlog
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zhifu.api.problems import RefusedInput, refused_input
from zhifu.errors import (
    InvalidCharacters,
    JsonTooDeep,
    MalformedJson,
    PayloadTooLarge,
    ZhifuError,
)
from zhifu.inputs import MAX_JSON_DEPTH, json_unacceptable, unacceptable
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
            route = route_template(scope)
            method = scope["method"]
            HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
            HTTP_LATENCY.labels(method=method, route=route).observe(elapsed)
            log.info(
                "request", method=method, route=route, status=status, ms=round(elapsed * 1000, 2)
            )
            structlog.contextvars.unbind_contextvars("request_id")


def route_template(scope: Scope) -> str:
    """The matched route's path template, `/wallet/trades/{trade_no}`: a label of bounded
    cardinality for logs and metrics; `unmatched` when no route matched."""
    route = scope.get("route")  # FastAPI's routes, included under a prefix or not
    if isinstance(route, Route):
        return _included_prefix(scope["path"], route) + route.path
    endpoint = scope.get("endpoint")  # a plain Starlette route or mount of the app
    for candidate in getattr(scope.get("app"), "routes", ()):
        if isinstance(candidate, Route) and candidate.endpoint is endpoint:
            return candidate.path
        if isinstance(candidate, Mount) and candidate.app is endpoint:
            return candidate.path
    return "unmatched"


def _included_prefix(path: str, route: Route) -> str:
    """The prefix a router was included under (`/wallet`): a route knows only its own
    path (`/trades/{trade_no}`), which matches the end of the request's path."""
    for slash in re.finditer("/", path):
        if route.path_regex.match(path[slash.start() :]):
            return path[: slash.start()]
    return ""


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


class InputGuard:
    """Refuses what no client means to send, in one place for every endpoint: a body
    larger than `max_body_bytes` (or the path's own limit in `body_limits`), answered
    413 without reading it all; and what zhifu.inputs refuses, but on `exempt` paths
    (the Alipay gateway checks its own parameters and answers in Alipay's form). The
    path, query and headers are checked before anything runs; a JSON, urlencoded or
    multipart body once the endpoint has read its last chunk. JSON must be at most
    MAX_JSON_DEPTH deep and must not start with a byte-order mark (RFC 8259)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        body_limits: Mapping[str, int] | None = None,
        exempt: Collection[str] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_limits = dict(body_limits or {})
        self.exempt = tuple(exempt)  # paths, or prefixes ending with "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.body_limits.get(scope["path"], self.max_body_bytes)
        checked = not any(_covers(path, scope["path"]) for path in self.exempt)
        if error := _declared_too_large(scope, limit) or (checked and _head_error(scope)):
            await refused_input(Request(scope), error)(scope, receive, send)
            return
        check = _body_check(scope) if checked else None
        await self.app(scope, _guarded_body(receive, limit, scope, check), send)


def _covers(exempt: str, path: str) -> bool:
    return path.startswith(exempt) if exempt.endswith("/") else path == exempt


def _declared_too_large(scope: Scope, limit: int) -> ZhifuError | None:
    declared = Headers(scope=scope).get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return PayloadTooLarge(f"the request body may be at most {limit} bytes here")
    return None


def _head_error(scope: Scope) -> ZhifuError | None:
    if unacceptable(scope["path"]):
        return InvalidCharacters("the path holds a control character")
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if unacceptable(name) or unacceptable(value):
            return InvalidCharacters(f"query parameter {name[:40]!r} holds a control character")
    for name, raw in scope.get("headers", []):
        if unacceptable(raw.decode("latin-1")):
            header = name.decode("latin-1")[:40]
            return InvalidCharacters(f"header {header} holds a control character")
    return None


BodyCheck = Callable[[Scope, bytes], Awaitable[ZhifuError | None]]


def _body_check(scope: Scope) -> BodyCheck | None:
    media_type = Headers(scope=scope).get("content-type", "").partition(";")[0].strip().lower()
    if media_type.startswith("application/") and media_type.endswith("+json"):
        return _json_error
    return _BODY_CHECKS.get(media_type)


def _guarded_body(receive: Receive, limit: int, scope: Scope, check: BodyCheck | None) -> Receive:
    """`receive`, refusing a body over `limit` as soon as it is, and checking the whole
    body with `check` once its last chunk has arrived."""
    chunks: list[bytes] = []
    size = 0

    async def guarded() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] != "http.request":
            return message
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RefusedInput(PayloadTooLarge(f"the request body may be at most {limit} bytes"))
        if check is not None:
            chunks.append(chunk)
            if not message.get("more_body", False) and (
                error := await check(scope, b"".join(chunks))
            ):
                raise RefusedInput(error)
        return message

    return guarded


async def _json_error(scope: Scope, body: bytes) -> ZhifuError | None:
    if body.startswith(b"\xef\xbb\xbf"):
        return MalformedJson("the body starts with a byte-order mark: send UTF-8 JSON without")
    try:
        value = json.loads(body)
    except RecursionError:
        return JsonTooDeep(f"JSON may be nested at most {MAX_JSON_DEPTH} deep")
    except ValueError:
        return None  # the endpoint answers malformed_json
    problem = json_unacceptable(value)
    if problem == "depth":
        return JsonTooDeep(f"JSON may be nested at most {MAX_JSON_DEPTH} deep")
    if problem == "characters":
        return InvalidCharacters("a JSON string holds a control character")
    return None


async def _form_error(scope: Scope, body: bytes) -> ZhifuError | None:
    fields = parse_qsl(body.decode("latin-1"), keep_blank_values=True)
    return _fields_error([text for field in fields for text in field])


async def _multipart_error(scope: Scope, body: bytes) -> ZhifuError | None:
    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    try:
        form = await MultiPartParser(Headers(scope=scope), stream()).parse()
    except MultiPartException:
        return None  # the endpoint answers as it does to any malformed form
    try:
        texts = [name for name, _ in form.multi_items()]
        texts += [value for _, value in form.multi_items() if isinstance(value, str)]
        return _fields_error(texts)
    finally:
        await form.close()


def _fields_error(texts: list[str]) -> ZhifuError | None:
    if any(unacceptable(text) for text in texts):
        return InvalidCharacters("a form field holds a control character")
    return None


_BODY_CHECKS = {
    "application/json": _json_error,
    "application/x-www-form-urlencoded": _form_error,
    "multipart/form-data": _multipart_error,
}
