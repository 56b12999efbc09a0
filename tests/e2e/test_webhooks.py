"""Webhooks end to end: a real `zhifu serve` process delivers a merchant's events to a
real HTTP receiver on 127.0.0.1 that fails the first times; a server killed with -9 while
the receiver holds the request open delivers the event again, with the same id, after a
restart. The retry schedule (minutes apart) is driven by a dispatcher run in this process
on the same database with a clock set ahead; the resend endpoint by the server itself.
The ledger verifies after each scenario."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LOCAL
from tests.e2e.harness import ServerProcess, cli
from tests.e2e.test_crash import PIN, open_funded_user
from tests.events.support import HANG, Receiver, eventually
from zhifu.clock import ManualClock
from zhifu.db import Database
from zhifu.db.embedded import start_embedded, stop_embedded
from zhifu.events import Dispatcher, HttpxSender, verify_signature
from zhifu.events.dispatcher import DEFAULT_LEASE
from zhifu.events.schedule import RETRY_DELAYS


@pytest.fixture(params=["embedded", "external"])
def options(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Where the server's database lives: a data directory, or an external server."""
    if request.param == "embedded":
        yield {"data_dir": tmp_path}
        return
    external = os.environ.get("ZHIFU_TEST_DATABASE_URL")
    if not external:
        pytest.skip("ZHIFU_TEST_DATABASE_URL is not set")
    from tests.conftest import create_database, drop_database

    url = create_database(external)
    yield {"database_url": url}
    drop_database(external, url)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@asynccontextmanager
async def dispatcher_ahead(
    options: dict[str, Any], ahead: timedelta
) -> AsyncIterator[tuple[Dispatcher, ManualClock]]:
    """A dispatcher in this process, on the server's database, its clock `ahead` of now."""
    data_dir: Path | None = options.get("data_dir")
    url: str = (
        options["database_url"]
        if data_dir is None
        else await asyncio.to_thread(start_embedded, data_dir)
    )
    clock = ManualClock(datetime.now(UTC) + ahead)
    sender = HttpxSender(timeout=5, destinations=LOCAL)
    try:
        async with Database(url, min_size=1, max_size=2) as db:
            dispatcher = Dispatcher(db, clock, sender)
            yield dispatcher, clock
            await dispatcher.close()
    finally:
        await sender.aclose()
        if data_dir is not None:
            await asyncio.to_thread(stop_embedded, data_dir)


class Merchant:
    """The merchant's side, over HTTP with its secret key."""

    def __init__(self, http: httpx.AsyncClient, secret_key: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {secret_key}"}

    async def call(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        headers = {**self.headers, "Idempotency-Key": uuid.uuid4().hex}
        answer = await self.http.request(method, f"/v1/merchant{path}", headers=headers, **kwargs)
        assert answer.status_code == status, answer.text
        return answer.json()

    async def only_delivery(self) -> dict[str, Any]:
        (delivery,) = (await self.call("GET", "/webhook/deliveries"))["deliveries"]
        return delivery  # type: ignore[no-any-return]


async def onboard(
    http: httpx.AsyncClient, options: dict[str, Any], url: str
) -> tuple[Merchant, str]:
    """A merchant (made with the operator's CLI) whose endpoint is `url`; and its secret."""
    made = await asyncio.to_thread(cli, "merchant", "create", "--name", "Webhook Teas", **options)
    merchant = Merchant(http, made["secret_key"])
    endpoint = await merchant.call("PUT", "/webhook", json={"url": url})
    return merchant, endpoint["secret"]


async def sell(
    http: httpx.AsyncClient, options: dict[str, Any], merchant: Merchant, amount: int
) -> str:
    """A trade created by the merchant and paid by a consumer; its number."""
    _, token = await open_funded_user(http, options)
    body = {"out_trade_no": uuid.uuid4().hex, "amount": amount, "subject": "oolong"}
    trade = await merchant.call("POST", "/trades", 201, json=body)
    paid = await http.post(
        f"/v1/trades/{trade['trade_no']}/pay",
        json={"pin": PIN},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert paid.status_code == 200, paid.text
    return str(trade["trade_no"])


def signed_at(header: str) -> datetime:
    timestamp = next(item[2:] for item in header.split(",") if item.startswith("t="))
    return datetime.fromtimestamp(int(timestamp), UTC)


def check_signatures(receiver: Receiver, secret: str, sent_by_server: int) -> None:
    """The server signs with the real time; the dispatcher ahead with its own clock."""
    for n, request in enumerate(receiver.received):
        header = request.headers["Zhifu-Signature"]
        now = datetime.now(UTC) if n < sent_by_server else signed_at(header)
        verify_signature(secret, header, request.body, now)


async def test_failing_receiver_gets_the_event_on_the_retry_schedule_and_on_resend(
    options: dict[str, Any], receiver: Receiver
) -> None:
    server = ServerProcess(**options).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            merchant, secret = await onboard(http, options, receiver.url)
            receiver.script([500, 503])  # then 200
            trade_no = await sell(http, options, merchant, 2_500)
            await eventually(lambda: len(receiver.received) == 1)  # the server's worker
            await eventually_recorded(merchant)
            first = await merchant.only_delivery()
            assert (first["state"], first["last_status_code"]) == ("pending", 500)

            ahead = RETRY_DELAYS[0] + timedelta(seconds=5)
            async with dispatcher_ahead(options, ahead) as (dispatcher, clock):
                assert await dispatcher.deliver_due() == 1  # attempt 2: 503
                assert await dispatcher.deliver_due() == 0  # not due for 10 minutes
                clock.advance(RETRY_DELAYS[1])
                assert await dispatcher.deliver_due() == 1  # attempt 3: acknowledged

            delivery = await merchant.only_delivery()
            assert (delivery["state"], delivery["attempts"]) == ("succeeded", 3)
            statuses = [attempt["status_code"] for attempt in delivery["attempt_log"]]
            assert statuses == [500, 503, 200]
            event = json.loads(receiver.received[0].body)
            assert (event["type"], event["sequence"], event["data"]["trade_no"]) == (
                "trade.paid",
                1,
                trade_no,
            )
            assert {r.body for r in receiver.received} == {receiver.received[0].body}

            resent = await merchant.call(
                "POST", f"/webhook/deliveries/{delivery['id']}/resend", 201
            )
            await eventually(lambda: len(receiver.received) == 4)  # the server again
            assert receiver.event_ids() == [event["id"]] * 4
            check_signatures(receiver, secret, sent_by_server=1)
            assert receiver.received[3].headers["Zhifu-Delivery-Id"] == str(resent["id"])
            await check_refund_event(merchant, receiver, trade_no)
    finally:
        assert server.stop() == 0
    assert (await asyncio.to_thread(cli, "ledger", "verify", **options))["ok"] is True


async def eventually_recorded(merchant: Merchant) -> None:
    """Wait until the server has recorded the outcome of its attempt."""
    for _ in range(100):
        delivery = await merchant.only_delivery()
        if delivery["last_status_code"] is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the attempt's outcome was never recorded")


async def check_refund_event(merchant: Merchant, receiver: Receiver, trade_no: str) -> None:
    """A refund is told with the next sequence and the refund's own numbers."""
    body = {"out_request_no": "refund-1", "amount": 1_000}
    await merchant.call("POST", f"/trades/{trade_no}/refunds", 201, json=body)
    await eventually(lambda: len(receiver.received) == 5)
    event = json.loads(receiver.received[4].body)
    assert (event["type"], event["sequence"]) == ("trade.refunded", 2)
    assert (event["data"]["refund"]["out_request_no"], event["data"]["refunded_amount"]) == (
        "refund-1",
        1_000,
    )


async def test_a_server_killed_mid_delivery_delivers_the_event_again(
    options: dict[str, Any], receiver: Receiver
) -> None:
    server = ServerProcess(**options).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            merchant, secret = await onboard(http, options, receiver.url)
            receiver.script([HANG])  # hold the first request open; then 200
            await sell(http, options, merchant, 1_800)
            await eventually(lambda: len(receiver.received) == 1)
    finally:
        await asyncio.to_thread(server.kill)

    restarted = ServerProcess(**options).start()
    try:
        async with httpx.AsyncClient(base_url=restarted.url, timeout=30) as http:
            merchant.http = http
            held = await merchant.only_delivery()
            assert (held["state"], held["attempts"], held["last_status_code"]) == (
                "pending",
                1,
                None,
            )
            # The dead worker's lease runs out; then any worker retries the delivery.
            async with dispatcher_ahead(options, DEFAULT_LEASE + timedelta(seconds=5)) as (
                dispatcher,
                _,
            ):
                assert await dispatcher.deliver_due() == 1
            delivery = await merchant.only_delivery()
    finally:
        receiver.release()
        assert restarted.stop() == 0
    (first, second) = receiver.received
    assert first.event_id == second.event_id and first.body == second.body
    assert (delivery["state"], delivery["attempts"]) == ("succeeded", 2)
    abandoned, acknowledged = delivery["attempt_log"]
    assert str(abandoned["error"]).startswith("abandoned") and acknowledged["status_code"] == 200
    check_signatures(receiver, secret, sent_by_server=1)
    assert (await asyncio.to_thread(cli, "ledger", "verify", **options))["ok"] is True
