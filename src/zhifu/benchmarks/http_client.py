"""A minimal keep-alive HTTP/1.1 client for load generation.

The load generator shares two cores with the server and PostgreSQL, so it must cost as
little as possible per request: one socket per simulated client, no pooling logic, no
redirects, bodies framed by Content-Length (which is what zhifu's server sends).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


class HttpConnection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> HttpConnection:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """A JSON request; the answer's status and its JSON body (None if empty)."""
        payload = None if body is None else json.dumps(body).encode()
        status, content = await self.send(method, path, payload, "application/json", headers)
        return status, json.loads(content) if content else None

    async def send(
        self,
        method: str,
        path: str,
        payload: bytes | None = None,
        content_type: str = "application/octet-stream",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """Any request; the answer's status and raw body."""
        assert self._reader is not None and self._writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if payload is not None:
            lines += [f"Content-Type: {content_type}", f"Content-Length: {len(payload)}"]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (payload or b""))
        head = await self._reader.readuntil(b"\r\n\r\n")
        status, length = _parse_head(head)
        return status, await self._reader.readexactly(length) if length else b""


def _parse_head(head: bytes) -> tuple[int, int]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
    return status, length
