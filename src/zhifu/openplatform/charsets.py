"""The charsets of the gateway: utf-8, and GBK and GB2312 as Alipay also takes them.

A request declares its charset in its `charset` parameter (the SDKs put it in the query
string; a form body or the Content-Type header may carry it too). Its parameters are
url-decoded into bytes and decoded in that charset; its signature is verified over its
canonical text encoded in that charset again, as Alipay and the SDKs sign it; the answer
is written in that charset and signed over those bytes. A character an answer holds but
the charset lacks (an emoji in GBK) is written as a JSON `\\uXXXX` escape: the same text
to any JSON reader, and bytes the charset has.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from urllib.parse import unquote_to_bytes

UTF_8 = "utf-8"
# Each accepted name (lower case) and the Python codec that reads it.
CODECS = {"utf-8": "utf-8", "utf8": "utf-8", "gbk": "gbk", "gb2312": "gb2312"}
JSON_ESCAPE = "zhifu.json-escape"
_CONTENT_TYPE_CHARSET = re.compile(r";\s*charset=([A-Za-z0-9_-]+)", re.IGNORECASE)


def _json_escape(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeEncodeError)
    unencodable = error.object[error.start : error.end]
    return "".join(json.dumps(char)[1:-1] for char in unencodable), error.end


codecs.register_error(JSON_ESCAPE, _json_escape)


def _pairs(raw: bytes) -> Iterator[tuple[bytes, bytes]]:
    """A urlencoded text's (name, value) pairs, url-decoded into bytes (`+` is a space)."""
    for field in raw.split(b"&"):
        if field:
            name, _, value = field.replace(b"+", b" ").partition(b"=")
            yield unquote_to_bytes(name), unquote_to_bytes(value)


def codec(charset: str | None) -> str | None:
    """The codec of a declared charset (none declared: utf-8); None if not accepted."""
    return CODECS.get((charset or UTF_8).lower())


def answer_codec(charset: str | None) -> str:
    """The codec an answer is written in: the request's, or utf-8 if it is refused."""
    return codec(charset) or UTF_8


def declared(query: bytes, body: bytes, content_type: str) -> str | None:
    """The charset a request declares: the `charset` parameter of its query string, then
    of a urlencoded body, then the Content-Type's; None if it declares none."""
    sources = [query]
    if content_type.lower().startswith("application/x-www-form-urlencoded"):
        sources.append(body)
    for source in sources:
        for name, value in _pairs(source):
            if name == b"charset":
                return value.decode("latin-1")
    found = _CONTENT_TYPE_CHARSET.search(content_type)
    return found.group(1) if found else None


def decode_form(raw: bytes, charset: str | None) -> list[tuple[str, str]]:
    """A urlencoded query or body as (name, value) pairs, url-decoded into bytes and read
    in the charset (utf-8 if it is not accepted: the gateway refuses the request then).
    Bytes the charset cannot read become U+FFFD, so that their signature cannot verify."""
    reader = answer_codec(charset)
    return [
        (name.decode(reader, "replace"), value.decode(reader, "replace"))
        for name, value in _pairs(raw)
    ]


def encode(text: str, charset: str | None) -> bytes:
    """Answer text in the charset, JSON-escaping what the charset lacks."""
    return text.encode(answer_codec(charset), JSON_ESCAPE)
