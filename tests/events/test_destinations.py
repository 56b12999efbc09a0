"""Webhooks and notify_urls reach public addresses only: refused when registered, and
checked again after DNS resolution when delivered."""

from __future__ import annotations

import asyncio
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.events.support import Receiver, emit_event, only_delivery
from zhifu.clock import ManualClock
from zhifu.db import Database
from zhifu.errors import InvalidRequest
from zhifu.events import (
    PUBLIC_ONLY,
    Destinations,
    Dispatcher,
    HttpxSender,
    UnsafeDestination,
    list_attempts,
    set_endpoint,
)

INTERNAL = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.7/hook",
    "http://192.168.1.20:8080/hook",
    "http://172.16.0.1/hook",
    "http://172.31.255.254/hook",
    "http://[fd00::1]/hook",
    "http://[fe80::1]/hook",
    "http://[::1]:9000/hook",
    "http://[::ffff:10.0.0.1]/hook",
    "http://localhost:5432/",
    "http://api.localhost/",
    "http://127.0.0.1:8000/v1/merchant",
    "http://127.1/",
    "http://0.0.0.0/",
    "http://2852039166/",
    "http://0xA9FEA9FE/",
    "http://0xa9.0xfe.43518/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "https://METADATA.google.internal./",
]
PUBLIC = ["https://shop.example.com/notify", "http://93.184.216.34/hook", "http://172.32.0.1/"]


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_destinations_are_refused(url: str) -> None:
    with pytest.raises(UnsafeDestination) as refused:
        PUBLIC_ONLY.check_url(url)
    assert refused.value.code == "unsafe_destination"


def test_an_octal_address_is_not_even_a_url() -> None:
    with pytest.raises(InvalidRequest):  # httpx refuses it; inet_aton would read 169.254...
        PUBLIC_ONLY.check_url("http://0251.0376.0251.0376/")


@pytest.mark.parametrize("url", PUBLIC)
def test_public_destinations_are_accepted(url: str) -> None:
    assert PUBLIC_ONLY.check_url(url) == url


def test_the_allow_list_names_hosts_and_networks() -> None:
    allowed = Destinations(("127.0.0.1", "10.0.0.0/8", "receiver.internal"))
    for url in ("http://127.0.0.1:9/", "http://10.1.2.3/", "http://receiver.internal/"):
        assert allowed.check_url(url) == url
    with pytest.raises(UnsafeDestination):
        allowed.check_url("http://192.168.0.1/")


async def test_registering_an_internal_webhook_is_refused(
    db: Database, clock: ManualClock, owner: str
) -> None:
    with pytest.raises(UnsafeDestination):
        await db.transaction(
            lambda conn: set_endpoint(
                conn, owner, "http://169.254.169.254/", None, "s" * 16, now=clock.now()
            )
        )


def resolving_to(address: str) -> Any:
    """A stand-in for DNS: every name resolves to `address`."""

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    return getaddrinfo


async def deliver_once(db: Database, clock: ManualClock, destinations: Destinations) -> None:
    sender = HttpxSender(timeout=0.5, destinations=destinations)
    dispatcher = Dispatcher(db, clock, sender)
    try:
        assert await dispatcher.deliver_due() == 1
    finally:
        await dispatcher.close()
        await sender.aclose()


async def test_a_name_that_now_resolves_inside_is_refused_at_delivery(
    db: Database,
    clock: ManualClock,
    owner: str,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = urlsplit(receiver.url).port
    url = f"http://hooks.shop.example:{port}/webhooks"  # public when registered
    await db.transaction(
        lambda conn: set_endpoint(conn, owner, url, None, "s" * 16, now=clock.now())
    )
    await emit_event(db, clock, owner)
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", resolving_to("127.0.0.1"))
    await deliver_once(db, clock, PUBLIC_ONLY)
    assert receiver.received == []
    delivery = await only_delivery(db, owner)
    async with db.connection() as conn:
        (attempt,) = await list_attempts(conn, owner, delivery.id)
    assert attempt.status_code is None
    assert attempt.error is not None and attempt.error.startswith("UnsafeDestination")
    assert "loopback" in attempt.error
    # Allowed, the same name is delivered to the address it resolved to.
    clock.advance(delivery.next_attempt_at - clock.now())  # type: ignore[operator]
    await deliver_once(db, clock, Destinations(("127.0.0.1",)))
    assert len(receiver.received) == 1
