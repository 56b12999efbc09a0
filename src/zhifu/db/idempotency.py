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
from zhifu.errors import IdempotencyConflict

# The statements of the protocol, written once: the functions below run them one by one,
# and the ledger's engine folds them into its batch statements (as common table
# expressions over the same parameters).
CLAIM = """
    insert into idempotency_key (key, request_hash)
    select k, h from unnest(%(keys)s::text[], %(hashes)s::text[]) as t(k, h) order by k
    on conflict (key) do nothing
    returning key
"""
LOOKUP = "select key, request_hash, result from idempotency_key where key = any(%(keys)s)"
COMPLETE = """
    update idempotency_key i set result = r.result
    from unnest(%(done)s::text[], %(results)s::jsonb[]) as r(key, result)
    where i.key = r.key
"""
# A refused request's key is forgotten, so that a later retry may succeed.
RELEASE = "delete from idempotency_key where key = any(%(released)s::text[])"


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
    cur = await conn.execute(CLAIM, {"keys": keys, "hashes": [hashes[k] for k in keys]})
    claimed = {row["key"] for row in await cur.fetchall()}
    return await stored(conn, [k for k in keys if k not in claimed])


async def stored(conn: Conn, keys: list[str]) -> dict[str, StoredKey]:
    """What each of these (taken) keys stored."""
    if not keys:
        return {}
    cur = await conn.execute(LOOKUP, {"keys": keys})
    return {
        row["key"]: StoredKey(row["request_hash"], row["result"]) for row in await cur.fetchall()
    }


async def complete(conn: Conn, results: Mapping[str, Any]) -> None:
    """Store the result of each claimed key, in the same transaction as the work."""
    if results:
        keys = list(results)
        await conn.execute(COMPLETE, {"done": keys, "results": [Jsonb(results[k]) for k in keys]})


# Every scope, in one place so that no two kinds of call can share a key. A merchant's
# keys share one scope whatever the call, so one key names one request: a key used for a
# refund and then for a cancel is refused. Business numbers (out_trade_no,
# out_request_no) dedupe on their own; a key binds an HTTP call to the exact request it
# was first sent with.
SIGNUP_SCOPE = "signup"


def card_scope(user_id: int) -> str:
    return f"card:{user_id}"


def kyc_scope(user_id: int) -> str:
    return f"kyc_request:{user_id}"


def transfer_scope(user_id: int) -> str:
    return f"transfer:{user_id}"


def merchant_scope(merchant_id: int) -> str:
    return f"payments:merchant:{merchant_id}"


def buyer_scope(user_id: int) -> str:
    return f"payments:user:{user_id}"


def scoped(scope: str, key: str) -> str:
    """The key as stored: unique across scopes."""
    return f"{scope}:{key}"


def reused(key: str) -> IdempotencyConflict:
    return IdempotencyConflict(
        "this idempotency key was already used for a different request", key=key
    )


async def replayed(
    conn: Conn, scope: str, key: str | None, request: dict[str, Any]
) -> dict[str, Any] | None:
    """Claim `key` within `scope` (whose calls it cannot collide with) for `request`;
    return what an earlier identical request stored, or None if this is the first.
    Describe requests without secrets: never a password or a card number."""
    if key is None:
        return None
    scoped_key, digest = scoped(scope, key), request_hash(request)
    earlier = (await claim(conn, {scoped_key: digest})).get(scoped_key)
    if earlier is None:
        return None
    if earlier.request_hash != digest:
        raise reused(key)
    result: dict[str, Any] = earlier.result
    return result


async def remember(conn: Conn, scope: str, key: str | None, result: dict[str, Any]) -> None:
    """Store what a call claimed by `replayed` answered, before its transaction commits."""
    if key is not None:
        await complete(conn, {scoped(scope, key): result})
