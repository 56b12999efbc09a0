"""A merchant's webhooks: its endpoint, the event types it wants, its deliveries.

Payments emit every trade and refund event for the owner `merchant:{id}` (see
`TradeService.announce`); this service is what the merchant sees of them through the
events capability. Which event types exist is payments' to say: they are handed in as
`event_types` (payments' EVENT_TYPES), since merchants sit below payments. The signing
secret is made here and shown only when it is new: when the endpoint is first set and
whenever the merchant asks to rotate it.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from zhifu.clock import Clock
from zhifu.db.database import Conn, Database
from zhifu.errors import InvalidRequest, NotFound
from zhifu.events import (
    PUBLIC_ONLY,
    Delivery,
    DeliveryState,
    Destinations,
    Endpoint,
    get_endpoint,
    list_attempts,
    list_deliveries,
    resend,
    set_endpoint,
)
from zhifu.merchants.merchants import Merchant


class UnknownEventType(InvalidRequest):
    code = "unknown_event_type"
    title = "Unknown event type"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, DeliveryState):
        return value.value
    return value


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    event_types: list[str] | None  # None: every type
    secret: str | None = field(default=None, repr=False)  # only when new

    @classmethod
    def of(cls, endpoint: Endpoint, *, show_secret: bool) -> Webhook:
        types = None if endpoint.event_types is None else sorted(endpoint.event_types)
        return cls(endpoint.url, types, endpoint.secret if show_secret else None)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"url": self.url, "event_types": self.event_types}
        if self.secret is not None:
            body["secret"] = self.secret
        return body


def _check_types(event_types: list[str] | None, known: frozenset[str]) -> list[str] | None:
    if event_types is None:
        return None
    unknown = sorted(set(event_types) - known)
    if unknown:
        raise UnknownEventType(
            f"unknown event types: {', '.join(unknown)}", unknown=unknown, known=sorted(known)
        )
    return event_types


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class MerchantNotifications:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        event_types: frozenset[str],
        *,
        destinations: Destinations = PUBLIC_ONLY,
    ) -> None:
        self.db = db
        self.clock = clock
        self.event_types = event_types
        self.destinations = destinations

    async def set_webhook(
        self,
        merchant: Merchant,
        url: str,
        event_types: list[str] | None = None,
        *,
        rotate_secret: bool = False,
    ) -> Webhook:
        """Create or replace the endpoint; a new secret when there was none or on request."""
        types = _check_types(event_types, self.event_types)

        async def work(conn: Conn) -> Webhook:
            current = await get_endpoint(conn, merchant.owner)
            fresh = current is None or rotate_secret
            secret = new_secret() if current is None or rotate_secret else current.secret
            endpoint = await set_endpoint(
                conn,
                merchant.owner,
                url,
                types,
                secret,
                now=self.clock.now(),
                destinations=self.destinations,
            )
            return Webhook.of(endpoint, show_secret=fresh)

        return await self.db.transaction(work)

    async def webhook(self, merchant: Merchant) -> Webhook:
        async with self.db.connection() as conn:
            endpoint = await get_endpoint(conn, merchant.owner)
        if endpoint is None:
            raise NotFound("no webhook endpoint is set: PUT /v1/merchant/webhook")
        return Webhook.of(endpoint, show_secret=False)

    async def deliveries(
        self,
        merchant: Merchant,
        *,
        state: DeliveryState | None = None,
        event_id: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """The merchant's deliveries, newest first, each with the log of its attempts."""
        async with self.db.connection() as conn:
            found = await list_deliveries(
                conn, merchant.owner, state=state, event_id=event_id, before=before, limit=limit
            )
            return [await self._describe(conn, merchant, delivery) for delivery in found]

    async def resend(self, merchant: Merchant, delivery_id: int) -> dict[str, Any]:
        """A fresh delivery of the event of one of the merchant's deliveries, due now."""

        async def work(conn: Conn) -> dict[str, Any]:
            delivery = await resend(
                conn, merchant.owner, delivery_id=delivery_id, now=self.clock.now()
            )
            return await self._describe(conn, merchant, delivery)

        return await self.db.transaction(work)

    @staticmethod
    async def _describe(conn: Conn, merchant: Merchant, delivery: Delivery) -> dict[str, Any]:
        attempts = await list_attempts(conn, merchant.owner, delivery.id)
        body = {name: _plain(value) for name, value in asdict(delivery).items()}
        body["attempt_log"] = [
            {name: _plain(value) for name, value in asdict(attempt).items()} for attempt in attempts
        ]
        return body
