"""Input no client means to send is refused at the edge with a stable code: control
characters anywhere, JSON too deep or with a byte-order mark, bodies too large, and
requests the HTTP parser cannot read. Web pages get a plain page, the API problem+json."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import structlog
import uvicorn

from tests.api.merchants import onboard, refused
from zhifu.api.app import create_app
from zhifu.api.parsers import HTTP_PROTOCOL
from zhifu.runtime import Runtime

MiB = 1024 * 1024


@pytest.mark.parametrize(
    "path",
    [
        "/v1/merchant/webhook/deliveries?event_id=evt%00x",
        "/v1/merchant/trades?out_trade_no=T%00x",
        "/v1/merchant/trades?out_trade_no=T%1Bx",
        "/v1/merchant/trades/T%00x",
    ],
)
async def test_control_characters_in_a_query_or_path_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, path: str
) -> None:
    merchant = await onboard(runtime)
    response = await client.get(path, headers=merchant.headers)
    assert refused(response, 400, "invalid_characters")["detail"]


async def test_a_page_with_a_nul_in_its_path_gets_a_plain_bad_request_page(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/checkout/T%00x")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    "body",
    [
        '{"phone": "1380013\\u00008000", "password": "secret-123"}',
        '{"phone": "13800138000", "password": "secret\\u0007"}',
        '{"phone": "\\ud800", "password": "secret-123"}',  # a lone surrogate
        '{"phone\\u0000": "13800138000", "password": "secret-123"}',
    ],
)
async def test_control_characters_in_json_are_refused(client: httpx.AsyncClient, body: str) -> None:
    response = await client.post(
        "/v1/sessions", content=body, headers={"Content-Type": "application/json"}
    )
    refused(response, 400, "invalid_characters")


async def test_control_characters_in_a_form_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/wallet/login", data={"phone": "138\x00", "password": "x", "csrf_token": "t"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")


async def test_a_control_character_in_a_multipart_field_is_refused(
    client: httpx.AsyncClient,
) -> None:
    files = {"payload": (None, "zhifu://pay\x00"), "csrf_token": (None, "t")}
    response = await client.post("/wallet/scan", files=files)
    assert response.status_code == 400


@pytest.mark.parametrize("depth", [65, 100_000])
async def test_json_nested_too_deep_is_refused(client: httpx.AsyncClient, depth: int) -> None:
    body = '{"a":' * depth + "1" + "}" * depth
    response = await client.post(
        "/v1/sessions", content=body, headers={"Content-Type": "application/json"}
    )
    refused(response, 400, "json_too_deep")


async def test_json_nested_64_deep_passes_the_edge(client: httpx.AsyncClient) -> None:
    nested = '{"a":' * 62 + "1" + "}" * 62
    body = '{"phone": "13800138000", "password": "wrong-password", "extra": ' + nested + "}"
    response = await client.post(
        "/v1/sessions", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.json()["code"] not in ("json_too_deep", "invalid_characters")


async def test_json_with_a_byte_order_mark_is_refused(client: httpx.AsyncClient) -> None:
    body = b'\xef\xbb\xbf{"phone": "13800138000", "password": "secret-123"}'
    response = await client.post(
        "/v1/sessions", content=body, headers={"Content-Type": "application/json"}
    )
    assert "byte-order mark" in refused(response, 400, "malformed_json")["detail"]


class CountedBody:
    """A request body of `size` bytes in 64 KiB chunks that counts what was read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = b" " * (64 * 1024)
        while self.read < self.size:
            self.read += len(chunk)
            yield chunk


@pytest.mark.parametrize("declared", [True, False])
async def test_a_body_over_the_limit_is_refused_without_reading_it_all(
    client: httpx.AsyncClient, declared: bool
) -> None:
    body = CountedBody(30 * MiB)
    headers = {"Content-Type": "application/json"}
    if declared:
        headers["Content-Length"] = str(body.size)
    response = await client.post("/v1/sessions", content=body, headers=headers)
    refused(response, 413, "payload_too_large")
    assert body.read <= 2 * MiB


async def test_the_scan_page_takes_a_picture_larger_than_the_default_limit(
    client: httpx.AsyncClient,
) -> None:
    picture = {"picture": ("qr.png", b"\x89PNG" + b"0" * (3 * MiB), "image/png")}
    response = await client.post("/wallet/scan", files=picture, data={"csrf_token": "t"})
    assert response.status_code != 413
    too_large = {"picture": ("qr.png", b"0" * (9 * MiB), "image/png")}
    assert (await client.post("/wallet/scan", files=too_large)).status_code == 413


async def test_an_idempotency_key_with_a_control_character_is_problem_json(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    merchant = await onboard(runtime)
    headers = {**merchant.headers, "Idempotency-Key": "key\x01one"}
    response = await client.post("/v1/merchant/trades", json={}, headers=headers)
    refused(response, 400, "invalid_characters")


@contextlib.asynccontextmanager
async def served(runtime: Runtime) -> AsyncIterator[int]:
    """The app behind a real uvicorn on a free loopback port, with zhifu's HTTP protocol."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(runtime), port=port, http=HTTP_PROTOCOL, log_config=None, lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def raw_request(port: int, request: bytes) -> bytes:
    for _ in range(100):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            break
        except OSError:
            await asyncio.sleep(0.05)
    writer.write(request)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


async def test_the_server_answers_a_request_it_cannot_parse_with_problem_json(
    runtime: Runtime,
) -> None:
    async with served(runtime) as port:
        answer = await raw_request(
            port,
            b"POST /v1/merchant/trades HTTP/1.1\r\nHost: zhifu\r\n"
            b"Idempotency-Key: key\x01one\r\nContent-Length: 0\r\n\r\n",
        )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/problem+json" in head.lower()
    assert b'"code":"malformed_request"' in body.replace(b" ", b"")


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/wallet/login", "/wallet/login"),
        ("/merchant/login", "/merchant/login"),
        ("/checkout/T123", "/checkout/{trade_no}"),
        ("/healthz", "/healthz"),
        ("/v1/merchant/trades/T123", "/v1/merchant/trades/{trade_no}"),
        ("/static/zhifu.css", "/static"),
        ("/no/such/page", "unmatched"),
    ],
)
async def test_requests_are_logged_and_counted_by_their_route_template(
    client: httpx.AsyncClient, path: str, route: str
) -> None:
    with structlog.testing.capture_logs() as logs:
        await client.get(path)
    lines = [line for line in logs if line.get("event") == "request"]
    assert [line["route"] for line in lines] == [route]
    metrics = (await client.get("/metrics")).text
    assert f'route="{route}"' in metrics


ASSET = re.compile(r'(?:src|href)="([^"]+)"|url: *[\'"]([^\'"]+)[\'"]')


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_api_docs_need_nothing_from_the_internet(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    urls = [a or b for a, b in ASSET.findall(response.text)]
    assert urls and all(url.startswith("/") and not url.startswith("//") for url in urls)
    assert "http://" not in response.text and "https://" not in response.text
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        kind = asset.headers["content-type"]
        if url.endswith(".js"):
            assert "javascript" in kind
        elif url.endswith(".css"):
            assert kind.startswith("text/css")
        elif url.endswith(".json"):
            assert kind.startswith("application/json")
