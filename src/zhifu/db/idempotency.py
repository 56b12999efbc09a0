"""Idempotency keys: a retry returns the first result; the same key with another request
is refused.

A key is claimed with INSERT .. ON CONFLICT DO NOTHING inside the transaction that does
the work. A concurrent claim of the same key waits for that transaction: if it commits,
the waiter sees the stored result and replays it; if it rolls back, the waiter claims
the key itself. Keys are claimed in sorted order so two batches cannot deadlock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from zhifu.db.database import Conn


def request_hash(request: Any) -> str:
    canonical = json.dumps(request, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredKey:
    request_hash: str
    result: Any


async def claim(conn: Conn, hashes: Mapping[str, str]) -> dict[str, StoredKey]:
    """Claim each key; return the keys that were already taken, with what they stored."""
    if not hashes:
        return {}
    keys = sorted(hashes)
    cur = await conn.execute(
        """
        insert into idempotency_key (key, request_hash)
        select k, h from unnest(%s::text[], %s::text[]) as t(k, h) order by k
        on conflict (key) do nothing
        returning key
        """,
        (keys, [hashes[k] for k in keys]),
    )
    claimed = {row["key"] for row in await cur.fetchall()}
    taken = [k for k in keys if k not in claimed]
    if not taken:
        return {}
    cur = await conn.execute(
        "select key, request_hash, result from idempotency_key where key = any(%s)", (taken,)
    )
    return {
        row["key"]: StoredKey(row["request_hash"], row["result"]) for row in await cur.fetchall()
    }


async def complete(conn: Conn, results: Mapping[str, Any]) -> None:
    """Store the result of each claimed key, in the same transaction as the work."""
    if not results:
        return
    keys = list(results)
    await conn.execute(
        """
        update idempotency_key i set result = r.result
        from unnest(%s::text[], %s::jsonb[]) as r(key, result) where i.key = r.key
        """,
        (keys, [Jsonb(results[k]) for k in keys]),
    )


async def release(conn: Conn, keys: list[str]) -> None:
    """Forget keys whose request was refused, so that a later retry may succeed."""
    if keys:
        await conn.execute("delete from idempotency_key where key = any(%s)", (keys,))
