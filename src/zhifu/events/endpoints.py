"""Webhook endpoints: where an owner wants its events delivered, and which types."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from zhifu.db.database import Conn
from zhifu.errors import InvalidRequest
from zhifu.events.destinations import PUBLIC_ONLY, Destinations
from zhifu.events.outbox import check_event_type, check_owner

MIN_SECRET_LENGTH = 16


@dataclass(frozen=True, slots=True)
class Endpoint:
    owner: str
    url: str
    # None: every event type
    event_types: frozenset[str] | None
    secret: str = field(repr=False)


def _check_types(event_types: Iterable[str] | None) -> list[str] | None:
    if event_types is None:
        return None
    return sorted({check_event_type(event_type) for event_type in event_types})


def _endpoint_from_row(row: dict[str, Any]) -> Endpoint:
    types = row["event_types"]
    return Endpoint(
        owner=row["owner"],
        url=row["url"],
        event_types=None if types is None else frozenset(types),
        secret=row["secret"],
    )


async def set_endpoint(
    conn: Conn,
    owner: str,
    url: str,
    event_types: Iterable[str] | None,
    secret: str,
    *,
    now: datetime,
    destinations: Destinations = PUBLIC_ONLY,
) -> Endpoint:
    """Create or replace the owner's endpoint. Pending deliveries go to the new url,
    which must be a public destination (or one `destinations` allows)."""
    check_owner(owner)
    if len(secret) < MIN_SECRET_LENGTH:
        raise InvalidRequest(f"a webhook secret needs at least {MIN_SECRET_LENGTH} characters")
    cur = await conn.execute(
        """
        insert into event_endpoint (owner, url, secret, event_types, created_at, updated_at)
        values (%(owner)s, %(url)s, %(secret)s, %(types)s, %(now)s, %(now)s)
        on conflict (owner) do update set url = excluded.url, secret = excluded.secret,
            event_types = excluded.event_types, updated_at = excluded.updated_at
        returning owner, url, secret, event_types
        """,
        {
            "owner": owner,
            "url": destinations.check_url(url, name="the webhook url"),
            "secret": secret,
            "types": _check_types(event_types),
            "now": now,
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return _endpoint_from_row(row)


async def get_endpoint(conn: Conn, owner: str) -> Endpoint | None:
    cur = await conn.execute(
        "select owner, url, secret, event_types from event_endpoint where owner = %s", (owner,)
    )
    row = await cur.fetchone()
    return _endpoint_from_row(row) if row else None
