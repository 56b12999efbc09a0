"""Absolute-form request targets (`POST http://host/gateway.do?... HTTP/1.1`, as Ant's
official Alipay SDK sends them) reach the right route whatever HTTP parser uvicorn runs."""

from __future__ import annotations

import asyncio

import pytest
import uvicorn

from tests.e2e.harness import free_port
from zhifu.api.app import create_app
from zhifu.api.middleware import OriginForm, origin_path
from zhifu.runtime import Runtime


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("http://127.0.0.1/gateway.do", "/gateway.do"),
        ("https://pay.example:8443/v1/a/b", "/v1/a/b"),
        ("http://pay.example", "/"),
        ("/gateway.do", "/gateway.do"),
        ("/redirect/http://elsewhere/x", "/redirect/http://elsewhere/x"),
        ("a b://host/x", "a b://host/x"),
    ],
)
def test_origin_path(target: str, path: str) -> None:
    assert origin_path(target) == path


async def request(port: int, request_line: str) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{request_line}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer.decode()


@pytest.mark.parametrize("parser", ["h11", "httptools"])
async def test_an_absolute_form_target_reaches_the_gateway(runtime: Runtime, parser: str) -> None:
    port = free_port()
    config = uvicorn.Config(
        OriginForm(create_app(runtime)), host="127.0.0.1", port=port, http=parser,
        lifespan="off", log_config=None, access_log=False,
    )  # fmt: skip
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn's flag)
            await asyncio.sleep(0.02)
        target = "http://127.0.0.1/gateway.do?method=alipay.trade.query"
        answer = await request(port, f"POST {target} HTTP/1.1")
        health = await request(port, "GET http://127.0.0.1/healthz HTTP/1.1")
    finally:
        server.should_exit = True
        await serving
    assert answer.startswith("HTTP/1.1 200")
    assert '{"alipay_trade_query_response":{"code":"40001"' in answer
    assert health.startswith("HTTP/1.1 200")
