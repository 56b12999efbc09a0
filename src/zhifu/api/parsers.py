"""uvicorn's HTTP protocols, answering a request they cannot parse (a control character
in a header, a malformed request line) with problem+json like every other refusal,
instead of uvicorn's plain text. `zhifu serve` runs uvicorn with `HTTP_PROTOCOL`."""

from __future__ import annotations

import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

MALFORMED = json.dumps(
    {
        "type": "/problems/malformed_request",
        "title": "Malformed request",
        "status": 400,
        "detail": "the request is not valid HTTP/1.1 (a control character in a header?)",
        "code": "malformed_request",
    }
).encode()
_HEADERS = [
    (b"content-type", b"application/problem+json"),
    (b"content-length", str(len(MALFORMED)).encode()),
    (b"connection", b"close"),
]


class ProblemH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        events: list[Any] = [
            h11.Response(status_code=400, headers=_HEADERS, reason=b"Bad Request"),
            h11.Data(data=MALFORMED),
            h11.EndOfMessage(),
        ]
        for event in events:
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()


HTTP_PROTOCOL: type[Any] = ProblemH11Protocol
try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class ProblemHttpToolsProtocol(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            head = b"".join(b"%s: %s\r\n" % header for header in _HEADERS)
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\n" + head + b"\r\n" + MALFORMED)
            self.transport.close()

    HTTP_PROTOCOL = ProblemHttpToolsProtocol  # uvicorn's choice too when httptools is there
except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
    pass
