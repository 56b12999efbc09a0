"""The dispatcher: delivers events on their channels (signed webhooks, and whatever
channels are registered: see channels.py), at least once, with retries.

A worker job calls `run_once` every fraction of a second: it schedules new events
(numbers them and fans them out into deliveries), leases the due ones and starts one task
per attempt (up to `max_in_flight`), so one slow endpoint does not hold up the others.
Each task POSTs what the delivery's channel renders, lets the channel judge the reply and
records the outcome in a transaction of its own. Several workers may run at once: leases
and attempt numbers keep them from delivering the same attempt twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

import httpx

from zhifu.clock import Clock
from zhifu.db.database import Conn, Database
from zhifu.db.due import Job
from zhifu.events.channels import REPLY_LIMIT, WEBHOOKS, Channel, Claim, Reply
from zhifu.events.destinations import PUBLIC_ONLY, Destinations, PublicOnlyTransport
from zhifu.events.queue import (
    claim_due,
    give_up_abandoned,
    record_attempt,
    schedule_new_events,
)
from zhifu.events.schedule import AttemptResult, DeliveryState
from zhifu.logging import get_logger
from zhifu.metrics import WEBHOOK_ATTEMPT_SECONDS, WEBHOOK_DELIVERIES

log = get_logger("zhifu.events")

SEND_TIMEOUT = 10.0
DEFAULT_LEASE = timedelta(seconds=60)  # well above the longest exchange, 2 * SEND_TIMEOUT
SCHEDULE_ROUNDS = 10  # scheduling passes per tick at most, while they find full batches


class Sender(Protocol):
    """POSTs a body with headers to a url; returns the reply (status code and the first
    REPLY_LIMIT bytes of the body), raises when no response arrives (connection
    refused, timeout)."""

    async def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> Reply: ...


class HttpxSender:
    """The production sender: one pooled httpx client, no redirects, no more of the
    response body read than REPLY_LIMIT bytes. `timeout` bounds each phase (connect,
    write, read); twice it bounds the whole exchange, so an endpoint dribbling its
    headers or body cannot hold a delivery. It connects only to public addresses, or
    those `destinations` allows, checked after resolving (destinations.py): a refused
    destination fails the attempt with the reason."""

    def __init__(
        self, timeout: float = SEND_TIMEOUT, *, destinations: Destinations = PUBLIC_ONLY
    ) -> None:
        self._deadline = 2 * timeout
        self._client = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            transport=PublicOnlyTransport(destinations),
        )

    async def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        async with (
            asyncio.timeout(self._deadline),
            self._client.stream("POST", url, content=body, headers=dict(headers)) as reply,
        ):
            received = bytearray()
            async for chunk in reply.aiter_bytes():
                received += chunk
                if len(received) >= REPLY_LIMIT:
                    break
            return Reply(reply.status_code, bytes(received[:REPLY_LIMIT]))

    async def aclose(self) -> None:
        await self._client.aclose()


def _describe(failure: Exception) -> str:
    detail = str(failure)
    return f"{type(failure).__name__}: {detail}"[:500] if detail else type(failure).__name__


def _unacknowledged(reply: Reply) -> str | None:
    """Why a reply whose status alone would pass did not acknowledge (its body)."""
    if not 200 <= reply.status_code < 300:
        return None  # the status code says it
    return f"not acknowledged: the reply was {reply.body[:100]!r}"


def _outcome_label(state: DeliveryState | None) -> str:
    if state is None:
        return "superseded"
    return "retrying" if state is DeliveryState.PENDING else state.value


class Dispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        sender: Sender | None = None,
        *,
        channels: Iterable[Channel] = (),
        lease: timedelta = DEFAULT_LEASE,
        batch_size: int = 100,
        max_in_flight: int = 100,
        destinations: Destinations = PUBLIC_ONLY,
    ) -> None:
        self.db = db
        self.clock = clock
        # The owner's webhooks, and the channels other capabilities register.
        self.channels: dict[str, Channel] = {WEBHOOKS.name: WEBHOOKS}
        self.channels |= {channel.name: channel for channel in channels}
        # A sender made here is closed here; an injected one belongs to the caller.
        self._own_sender: HttpxSender | None = None
        if sender is None:
            sender = self._own_sender = HttpxSender(destinations=destinations)
        self.sender = sender
        self.lease = lease
        self.batch_size = batch_size
        self.max_in_flight = max_in_flight
        self._in_flight: set[asyncio.Task[None]] = set()

    def jobs(self) -> list[Job]:
        return [("deliver-webhooks", 0.5, self.run_once)]

    async def run_once(self) -> int:
        """One tick: schedule new events, start due attempts; return how many started."""
        now = self.clock.now()
        await self.schedule(now)
        given_up = await self.db.transaction(lambda conn: give_up_abandoned(conn, now))
        WEBHOOK_DELIVERIES.labels("failed").inc(given_up)
        room = min(self.batch_size, self.max_in_flight - len(self._in_flight))
        if room <= 0:
            return 0
        claims = await self.db.transaction(
            lambda conn: claim_due(conn, now, self.lease, room, list(self.channels))
        )
        for claim in claims:
            task = asyncio.create_task(self._deliver(claim), name=f"webhook-{claim.delivery_id}")
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(claims)

    async def schedule(self, now: datetime) -> None:
        """Schedule what was emitted since the last tick, a batch per transaction."""
        limit = self.batch_size * 5
        for _ in range(SCHEDULE_ROUNDS):
            scheduled = await self.db.transaction(
                lambda conn: schedule_new_events(conn, now, limit, list(self.channels.values()))
            )
            if scheduled < limit:
                return

    async def drain(self) -> None:
        """Wait for every attempt in flight to finish and be recorded."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight)

    async def deliver_due(self) -> int:
        """Run one tick and wait for its attempts: a whole round, for tests and scripts."""
        started = await self.run_once()
        await self.drain()
        return started

    async def close(self) -> None:
        """Stop: attempts in flight are dropped; their leases run out and they are retried."""
        for task in list(self._in_flight):
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self._own_sender is not None:
            await self._own_sender.aclose()

    async def _deliver(self, claim: Claim) -> None:
        result = await self._attempt(claim)

        async def record(conn: Conn) -> DeliveryState | None:
            return await record_attempt(conn, claim, result, self.clock.now())

        try:
            state = await self.db.transaction(record)
        except Exception as error:  # the lease runs out and the attempt is retried
            log.error("webhook outcome not recorded", delivery=claim.delivery_id, error=repr(error))
            return
        WEBHOOK_DELIVERIES.labels(_outcome_label(state)).inc()
        log.info(
            "webhook attempt",
            channel=claim.channel,
            delivery=claim.delivery_id,
            attempt=claim.attempt_no,
            status=result.status_code,
            outcome=_outcome_label(state),
        )

    async def _attempt(self, claim: Claim) -> AttemptResult:
        channel = self.channels[claim.channel]
        started = time.perf_counter()
        reply: Reply | None = None
        error: str | None = None
        try:
            outgoing = await channel.render(claim, self.clock.now())
        except Exception as failure:  # e.g. the database is away: retried on schedule
            log.error("delivery not rendered", delivery=claim.delivery_id, error=repr(failure))
            error = "not rendered: " + _describe(failure)
        else:
            try:
                reply = await self.sender(outgoing.url, outgoing.body, outgoing.headers)
            except Exception as failure:  # no response: refused, timed out, reset
                error = _describe(failure)
        elapsed = time.perf_counter() - started
        WEBHOOK_ATTEMPT_SECONDS.observe(elapsed)
        acknowledged = reply is not None and channel.acknowledges(reply)
        if reply is not None and not acknowledged:
            error = _unacknowledged(reply)
        return AttemptResult(
            status_code=reply.status_code if reply else None,
            error=error,
            duration_ms=round(elapsed * 1000),
            acknowledged=acknowledged,
        )
