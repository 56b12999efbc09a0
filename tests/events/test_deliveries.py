from __future__ import annotations

from datetime import timedelta

import pytest

from tests.events.support import (
    SECRET,
    Receiver,
    emit_event,
    only_delivery,
    schedule,
    subscribe,
)
from zhifu.clock import ManualClock
from zhifu.db import Database
from zhifu.errors import InvalidRequest, NotFound
from zhifu.events import (
    RETRY_DELAYS,
    DeliveryState,
    Dispatcher,
    get_endpoint,
    list_deliveries,
    resend,
)
from zhifu.runtime import Runtime


async def test_resend_delivers_again_after_success_with_the_same_event_id(
    db: Database, clock: ManualClock, owner: str, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    await subscribe(db, clock, owner, receiver.url)
    event = await emit_event(db, clock, owner)
    await dispatcher.deliver_due()
    clock.advance(timedelta(hours=1))

    fresh = await db.transaction(
        lambda conn: resend(conn, owner, event_id=event.id, now=clock.now())
    )
    assert (fresh.state, fresh.attempts, fresh.next_attempt_at) == (
        DeliveryState.PENDING,
        0,
        clock.now(),
    )
    assert await dispatcher.deliver_due() == 1
    assert receiver.event_ids() == [event.id, event.id]
    async with db.connection() as conn:
        states = [d.state for d in await list_deliveries(conn, owner, event_id=event.id)]
    assert states == [DeliveryState.SUCCEEDED, DeliveryState.SUCCEEDED]


async def test_resend_by_delivery_revives_a_failed_delivery(
    db: Database, clock: ManualClock, owner: str, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    await subscribe(db, clock, owner, receiver.url)
    await emit_event(db, clock, owner)
    receiver.script([500] * len(RETRY_DELAYS) + [500])
    await dispatcher.deliver_due()
    for delay in RETRY_DELAYS:
        clock.advance(delay)
        await dispatcher.deliver_due()
    failed = await only_delivery(db, owner)
    assert failed.state is DeliveryState.FAILED

    await db.transaction(lambda conn: resend(conn, owner, delivery_id=failed.id, now=clock.now()))
    assert await dispatcher.deliver_due() == 1
    async with db.connection() as conn:
        latest, first = await list_deliveries(conn, owner)
    assert (latest.state, latest.attempts, first.state) == (
        DeliveryState.SUCCEEDED,
        1,
        DeliveryState.FAILED,
    )


async def test_resend_refuses_what_is_not_the_owners_or_is_ambiguous(
    db: Database, clock: ManualClock, owner: str, receiver: Receiver
) -> None:
    await subscribe(db, clock, owner, receiver.url)
    event = await emit_event(db, clock, owner)
    stranger = owner + "-stranger"
    await subscribe(db, clock, stranger, receiver.url)
    with pytest.raises(NotFound):
        await db.transaction(
            lambda conn: resend(conn, stranger, event_id=event.id, now=clock.now())
        )
    with pytest.raises(InvalidRequest):
        await db.transaction(lambda conn: resend(conn, owner, now=clock.now()))
    with pytest.raises(InvalidRequest):
        await db.transaction(
            lambda conn: resend(conn, owner, event_id=event.id, delivery_id=1, now=clock.now())
        )
    unsubscribed = owner + "-silent"
    silent = await emit_event(db, clock, unsubscribed)
    with pytest.raises(InvalidRequest, match="not scheduled yet"):
        await db.transaction(
            lambda conn: resend(conn, unsubscribed, event_id=silent.id, now=clock.now())
        )
    await schedule(db, clock)
    with pytest.raises(InvalidRequest, match="no webhook endpoint"):
        await db.transaction(
            lambda conn: resend(conn, unsubscribed, event_id=silent.id, now=clock.now())
        )


async def test_deliveries_are_listed_newest_first_by_state_and_page(
    db: Database, clock: ManualClock, owner: str, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    await subscribe(db, clock, owner, receiver.url)
    events = [await emit_event(db, clock, owner, n=n) for n in range(5)]
    receiver.script([500, 500])  # the first two attempts fail
    await dispatcher.deliver_due()

    async with db.connection() as conn:
        everything = await list_deliveries(conn, owner)
        assert [d.sequence for d in everything] == [5, 4, 3, 2, 1]
        pending = await list_deliveries(conn, owner, state=DeliveryState.PENDING)
        assert len(pending) == 2 and all(d.last_status_code == 500 for d in pending)
        page = await list_deliveries(conn, owner, before=everything[1].id, limit=2)
        assert [d.sequence for d in page] == [3, 2]
        (one,) = await list_deliveries(conn, owner, event_id=events[0].id)
        assert one.event_id == events[0].id


async def test_an_endpoint_is_validated_and_can_be_replaced(
    db: Database, clock: ManualClock, owner: str, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    for url, secret in [
        ("ftp://example.com/hook", SECRET),
        ("/relative/hook", SECRET),
        ("https://example.com/hook", "short"),
    ]:
        with pytest.raises(InvalidRequest):
            await subscribe(db, clock, owner, url, secret=secret)
    await subscribe(db, clock, owner, "http://127.0.0.1:9/unreachable", {"trade.paid"})
    await emit_event(db, clock, owner)
    await dispatcher.deliver_due()  # connection refused: retried in 4 minutes
    assert "ConnectError" in str((await only_delivery(db, owner)).last_error)

    await subscribe(db, clock, owner, receiver.url, None)
    async with db.connection() as conn:
        endpoint = await get_endpoint(conn, owner)
    assert endpoint is not None and endpoint.event_types is None and endpoint.url == receiver.url
    assert SECRET not in repr(endpoint)
    clock.advance(RETRY_DELAYS[0])
    await dispatcher.deliver_due()
    assert (await only_delivery(db, owner)).state is DeliveryState.SUCCEEDED


async def test_the_worker_runs_the_dispatcher(runtime: Runtime) -> None:
    jobs = {name: interval for name, interval, _ in runtime.jobs}
    assert jobs["deliver-webhooks"] <= 1.0
