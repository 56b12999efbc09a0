"""The gateway on a real `zhifu serve`: what only a real HTTP server shows."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.e2e.harness import ServerProcess


def raw_request(port: int, request_line: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"{request_line}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def test_an_absolute_form_request_line_reaches_the_gateway(
    database_url: str, tmp_path: Path
) -> None:
    """Ant's official SDK sends `POST http://host/gateway.do?... HTTP/1.1`."""
    server = ServerProcess(data_dir=tmp_path, database_url=database_url).start()
    try:
        target = f"http://127.0.0.1:{server.port}/gateway.do?method=alipay.trade.query"
        answer = raw_request(server.port, f"GET {target} HTTP/1.1")
    finally:
        server.stop()
    assert answer.startswith("HTTP/1.1 200")
    assert '{"alipay_trade_query_response":{"code":"40001"' in answer
