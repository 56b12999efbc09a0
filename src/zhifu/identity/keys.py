"""Idempotency keys for identity calls that create something (a user, a linked card).

A key is claimed in the transaction that creates the thing and completed with its id
before commit; a retry with the same key and request gets the same id back, the same key
with another request is refused. Requests are described without secrets: never a
password, never a card number (its keyed fingerprint stands in for it).
"""

from __future__ import annotations

from typing import Any

from zhifu.db import idempotency
from zhifu.db.database import Conn
from zhifu.errors import IdempotencyConflict


async def replayed(
    conn: Conn, scope: str, key: str | None, request: dict[str, Any]
) -> dict[str, Any] | None:
    """Claim `key` (within `scope`) for `request`; return what an earlier identical
    request stored, or None if this is the first."""
    if key is None:
        return None
    scoped, digest = f"{scope}:{key}", idempotency.request_hash(request)
    stored = await idempotency.claim(conn, {scoped: digest})
    if scoped not in stored:
        return None
    if stored[scoped].request_hash != digest:
        raise IdempotencyConflict(
            "this idempotency key was already used for a different request", key=key
        )
    result: dict[str, Any] = stored[scoped].result
    return result


async def remember(conn: Conn, scope: str, key: str | None, result: dict[str, Any]) -> None:
    if key is not None:
        await idempotency.complete(conn, {f"{scope}:{key}": result})
