from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

from prometheus_client import REGISTRY

from tests.conftest import LOCAL
from tests.events.support import (
    HANG,
    SECRET,
    Receiver,
    emit_event,
    eventually,
    only_delivery,
    subscribe,
)
from zhifu.clock import ManualClock
from zhifu.db import Database
from zhifu.events import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    DeliveryState,
    Dispatcher,
    HttpxSender,
    list_attempts,
    list_deliveries,
    verify_signature,
)
from zhifu.events.queue import ABANDONED


async def attempt_outcomes(db: Database, owner: str, delivery_id: int) -> list[int | str | None]:
    async with db.connection() as conn:
        attempts = await list_attempts(conn, owner, delivery_id)
    return [attempt.status_code or attempt.error for attempt in attempts]


def delivered(outcome: str) -> float:
    value = REGISTRY.get_sample_value("zhifu_webhook_deliveries_total", {"outcome": outcome})
    return value or 0.0


async def test_an_event_is_delivered_signed_with_its_envelope(
    db: Database, clock: ManualClock, owner: str, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    await subscribe(db, clock, owner, receiver.url)
    event = await emit_event(db, clock, owner, trade_no="T1", amount=1234)
    succeeded_before = delivered("succeeded")

    assert await dispatcher.deliver_due() == 1

    (request,) = receiver.received
    assert event.sequence is None  # numbered when scheduled
    assert json.loads(request.body) == {**event.envelope(), "sequence": 1}
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Zhifu-Event-Id"] == event.id
    assert request.headers["Zhifu-Event-Type"] == "trade.paid"
    assert request.headers["Zhifu-Sequence"] == "1"
    verify_signature(SECRET, request.headers["Zhifu-Signature"], request.body, clock.now())
    delivery = await only_delivery(db, owner)
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (
        DeliveryState.SUCCEEDED,
        1,
        200,
    )
    assert (delivery.event_id, delivery.next_attempt_at) == (event.id, None)
    assert delivered("succeeded") == succeeded_before + 1
    assert await dispatcher.deliver_due() == 0


async def test_failures_are_retried_on_the_schedule_until_acknowledged(
    db: Database, clock: ManualClock, owner: str, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    await subscribe(db, clock, owner, receiver.url)
    event = await emit_event(db, clock, owner)
    receiver.script([500, HANG, 503])  # then 200
    start = attempted_at = clock.now()

    assert await dispatcher.deliver_due() == 1
    for gap in RETRY_DELAYS[:3]:
        assert (await only_delivery(db, owner)).next_attempt_at == attempted_at + gap
        clock.set(attempted_at + gap - timedelta(seconds=1))
        assert await dispatcher.deliver_due() == 0  # not due yet
        attempted_at = clock.advance(timedelta(seconds=1))
        assert await dispatcher.deliver_due() == 1
        request = receiver.received[-1]
        verify_signature(SECRET, request.headers["Zhifu-Signature"], request.body, clock.now())

    delivery = await only_delivery(db, owner)
    assert (delivery.state, delivery.attempts) == (DeliveryState.SUCCEEDED, 4)
    assert clock.now() - start == timedelta(minutes=4 + 10 + 10)
    outcomes = await attempt_outcomes(db, owner, delivery.id)
    assert outcomes[0] == 500 and outcomes[2:] == [503, 200]
    assert str(outcomes[1]).startswith("ReadTimeout")
    assert receiver.event_ids() == [event.id] * 4
    assert len({request.body for request in receiver.received}) == 1


async def test_a_delivery_is_given_up_after_the_last_retry(
    db: Database, clock: ManualClock, owner: str, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    await subscribe(db, clock, owner, receiver.url)
    await emit_event(db, clock, owner)
    receiver.script([], then=500)
    failed_before = delivered("failed")

    assert await dispatcher.deliver_due() == 1
    for delay in RETRY_DELAYS:
        clock.advance(delay)
        assert await dispatcher.deliver_due() == 1

    delivery = await only_delivery(db, owner)
    assert (delivery.state, delivery.attempts) == (DeliveryState.FAILED, MAX_ATTEMPTS)
    assert (delivery.next_attempt_at, delivery.last_status_code) == (None, 500)
    assert delivered("failed") == failed_before + 1
    clock.advance(timedelta(days=7))
    assert await dispatcher.deliver_due() == 0
    assert len(receiver.received) == MAX_ATTEMPTS


async def test_an_endpoint_gets_only_the_event_types_it_subscribed_to(
    db: Database, clock: ManualClock, owner: str, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    everything, unsubscribed = f"{owner}-all", f"{owner}-none"
    await subscribe(db, clock, owner, receiver.url, {"trade.paid", "refund.succeeded"})
    await subscribe(db, clock, everything, receiver.url, None)
    for name in (owner, everything, unsubscribed):
        for event_type in ("trade.paid", "trade.closed", "refund.succeeded"):
            await emit_event(db, clock, name, event_type)

    assert await dispatcher.deliver_due() == 5

    types = sorted(request.headers["Zhifu-Event-Type"] for request in receiver.received)
    assert types == sorted(["trade.paid", "refund.succeeded"] * 2 + ["trade.closed"])
    async with db.connection() as conn:
        mine = await list_deliveries(conn, owner)
        assert sorted(d.event_type for d in mine) == ["refund.succeeded", "trade.paid"]
        assert len(await list_deliveries(conn, everything)) == 3
        assert await list_deliveries(conn, unsubscribed) == []


async def test_a_worker_killed_mid_delivery_loses_nothing(
    db: Database, clock: ManualClock, owner: str, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    await subscribe(db, clock, owner, receiver.url)
    event = await emit_event(db, clock, owner)
    receiver.script([HANG])
    doomed = Dispatcher(db, clock, HttpxSender(timeout=30, destinations=LOCAL))

    assert await doomed.run_once() == 1
    await eventually(lambda: len(receiver.received) == 1)
    await doomed.close()  # killed: the attempt is claimed, its outcome never recorded

    delivery = await only_delivery(db, owner)
    assert (delivery.state, delivery.attempts) == (DeliveryState.PENDING, 1)
    assert delivery.next_attempt_at == clock.now() + dispatcher.lease
    assert await dispatcher.deliver_due() == 0  # the lease still holds

    clock.advance(dispatcher.lease)
    assert await dispatcher.deliver_due() == 1
    assert receiver.event_ids() == [event.id, event.id]
    delivery = await only_delivery(db, owner)
    assert (delivery.state, delivery.attempts) == (DeliveryState.SUCCEEDED, 2)
    assert await attempt_outcomes(db, owner, delivery.id) == [ABANDONED, 200]


async def test_a_late_outcome_after_the_lease_ran_out_decides_nothing(
    db: Database, clock: ManualClock, owner: str, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    await subscribe(db, clock, owner, receiver.url)
    await emit_event(db, clock, owner)
    receiver.script([HANG])
    slow = Dispatcher(db, clock, HttpxSender(timeout=30, destinations=LOCAL))
    superseded_before = delivered("superseded")

    assert await slow.run_once() == 1
    await eventually(lambda: len(receiver.received) == 1)
    clock.advance(slow.lease)
    assert await dispatcher.deliver_due() == 1  # the second attempt is acknowledged
    receiver.release()  # the first finally answers 500
    await slow.drain()
    await slow.close()

    delivery = await only_delivery(db, owner)
    assert (delivery.state, delivery.attempts) == (DeliveryState.SUCCEEDED, 2)
    assert await attempt_outcomes(db, owner, delivery.id) == [500, 200]
    assert delivered("superseded") == superseded_before + 1


async def test_two_dispatchers_never_deliver_the_same_attempt(
    db: Database, clock: ManualClock, receiver: Receiver
) -> None:
    owners = [f"merchant:{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for name in owners:
        await subscribe(db, clock, name, receiver.url)
    events = [await emit_event(db, clock, owners[n % 3], n=n) for n in range(60)]

    async with Database(db.url) as other_process:
        workers = [
            Dispatcher(db, clock, batch_size=7, destinations=LOCAL),
            Dispatcher(other_process, clock, batch_size=7, destinations=LOCAL),
        ]
        started = [0, 0]
        while sum(started) < len(events):
            counts = await asyncio.gather(*(worker.deliver_due() for worker in workers))
            started = [total + count for total, count in zip(started, counts, strict=True)]
        for worker in workers:
            await worker.close()

    assert sum(started) == len(events) and all(started)  # both took part
    assert sorted(receiver.event_ids()) == sorted(event.id for event in events)
    async with db.connection() as conn:
        for name in owners:
            deliveries = await list_deliveries(conn, name)
            assert {(d.state, d.attempts) for d in deliveries} == {(DeliveryState.SUCCEEDED, 1)}
