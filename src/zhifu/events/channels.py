"""Channels: the ways an event reaches a receiver, all through one dispatcher.

A channel decides three things: which of the newly scheduled events it delivers, and
where (`targets`, in the scheduling transaction); what one attempt sends (`render`); and
whether the receiver's reply acknowledges it (`acknowledges`). Retries, leases and the
attempt log are the dispatcher's, the same for every channel.

The built-in channel is the owner's webhook: JSON signed with the endpoint's secret,
acknowledged by any 2xx. Other capabilities register channels of their own with the
dispatcher (the open platform's Alipay notifications): every dispatcher working on one
database must be built with the same channels, or events it schedules miss those that
the others know.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from zhifu.db.database import Conn
from zhifu.events.outbox import Event
from zhifu.events.signing import SIGNATURE_HEADER, signature_header

WEBHOOK = "webhook"
REPLY_LIMIT = 1024  # bytes of a reply's body read at most: enough to judge it


@dataclass(frozen=True, slots=True)
class Claim:
    """One attempt of one delivery, leased to this worker."""

    delivery_id: int
    attempt_no: int
    channel: str
    url: str
    secret: str | None = field(repr=False)  # the webhook endpoint's; None elsewhere
    event: Event = field(repr=False)


@dataclass(frozen=True, slots=True)
class Target:
    """One delivery to make of a scheduled event. `url` None: the owner's webhook
    endpoint, looked up at each attempt (so pending deliveries follow a changed url)."""

    event_id: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What one attempt POSTs."""

    url: str
    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Reply:
    """What came back: the status code and the first REPLY_LIMIT bytes of the body."""

    status_code: int
    body: bytes = b""


class Channel(Protocol):
    name: str

    async def targets(self, conn: Conn, events: Sequence[Event]) -> list[Target]:
        """The deliveries to make of these newly scheduled events."""
        ...

    async def render(self, claim: Claim, now: datetime) -> Outgoing:
        """The request of one attempt; raising fails the attempt (it is retried)."""
        ...

    def acknowledges(self, reply: Reply) -> bool: ...


def webhook_body(event: Event) -> bytes:
    return json.dumps(event.envelope(), separators=(",", ":"), ensure_ascii=False).encode()


def webhook_headers(claim: Claim, body: bytes, now: datetime) -> dict[str, str]:
    assert claim.secret is not None
    return {
        "Content-Type": "application/json",
        "User-Agent": "zhifu-webhooks/1",
        "Zhifu-Event-Id": claim.event.id,
        "Zhifu-Event-Type": claim.event.type,
        "Zhifu-Sequence": str(claim.event.sequence),
        "Zhifu-Delivery-Id": str(claim.delivery_id),
        "Zhifu-Attempt": str(claim.attempt_no),
        SIGNATURE_HEADER: signature_header(claim.secret, body, now),
    }


class WebhookChannel:
    """The owner's endpoint gets the events of the types it subscribed to."""

    name = WEBHOOK

    async def targets(self, conn: Conn, events: Sequence[Event]) -> list[Target]:
        cur = await conn.execute(
            """
            select o.event_id from outbox o join event_endpoint ep on ep.owner = o.owner
            where o.event_id = any(%s)
              and (ep.event_types is null or o.event_type = any(ep.event_types))
            order by o.id
            """,
            ([event.id for event in events],),
        )
        return [Target(row["event_id"]) for row in await cur.fetchall()]

    async def render(self, claim: Claim, now: datetime) -> Outgoing:
        body = webhook_body(claim.event)
        return Outgoing(claim.url, body, webhook_headers(claim, body, now))

    def acknowledges(self, reply: Reply) -> bool:
        return 200 <= reply.status_code < 300


WEBHOOKS = WebhookChannel()
