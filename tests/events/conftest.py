"""Fixtures of the events tests: a database of their own, emptied before each test (the
dispatcher works on every delivery in its database, so tests must not see each other's),
a real HTTP receiver, and a dispatcher whose sender gives up after half a second."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.conftest import LOCAL, _backends, private_database
from tests.events.support import Receiver
from zhifu.clock import ManualClock
from zhifu.db import Database
from zhifu.events import Dispatcher, HttpxSender

EVENT_TABLES = (
    "event_delivery_attempt",
    "event_delivery",
    "event_endpoint",
    "outbox",
)


@pytest.fixture(scope="session", params=_backends())
async def events_database(
    request: pytest.FixtureRequest, server_urls: dict[str, str]
) -> AsyncIterator[Database]:
    async with private_database(server_urls[request.param]) as database:
        yield database


@pytest.fixture
async def db(events_database: Database) -> Database:
    """The events tests' own database, emptied of events before each test."""
    async with events_database.connection() as conn:
        await conn.execute(f"truncate {', '.join(EVENT_TABLES)} restart identity")
    return events_database


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def owner() -> str:
    return f"merchant:{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def dispatcher(db: Database, clock: ManualClock) -> AsyncIterator[Dispatcher]:
    sender = HttpxSender(timeout=0.5, destinations=LOCAL)
    worker = Dispatcher(db, clock, sender)
    yield worker
    await worker.close()
    await sender.aclose()
