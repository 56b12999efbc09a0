"""Test databases: a fresh database on the embedded server, and on the external server
named by ZHIFU_TEST_DATABASE_URL when it is set. Tests that take `db` run on each."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from zhifu.api.app import create_app
from zhifu.clock import ManualClock
from zhifu.config import Settings
from zhifu.db import Database
from zhifu.db.embedded import start_embedded
from zhifu.db.migrate import upgrade
from zhifu.events import Destinations
from zhifu.runtime import Runtime

# The tests' webhook and notify receivers listen on 127.0.0.1, which zhifu refuses as a
# destination unless allowed; the `zhifu serve` children read it from the environment.
LOCAL_RECEIVERS = ("127.0.0.1",)
LOCAL = Destinations(LOCAL_RECEIVERS)
os.environ["ZHIFU_WEBHOOK_ALLOW_HOSTS"] = ",".join(LOCAL_RECEIVERS)

_EMBEDDED_DIR = Path(
    os.environ.get("ZHIFU_TEST_EMBEDDED_DIR") or tempfile.mkdtemp(prefix="zhifu-test-pg-")
)


def _backends() -> list[str]:
    names = ["embedded"]
    if os.environ.get("ZHIFU_TEST_DATABASE_URL"):
        names.append("external")
    return names


def _with_database(url: str, name: str) -> str:
    conninfo = psycopg.conninfo.conninfo_to_dict(url)
    conninfo["dbname"] = name
    return psycopg.conninfo.make_conninfo(**conninfo)


@pytest.fixture(scope="session")
def server_urls() -> dict[str, str]:
    urls = {"embedded": start_embedded(_EMBEDDED_DIR)}
    if os.environ.get("ZHIFU_TEST_DATABASE_URL"):
        urls["external"] = os.environ["ZHIFU_TEST_DATABASE_URL"]
    return urls


def create_database(server_url: str) -> str:
    """Create and migrate a fresh database on a server; return its URL."""
    name = f"zhifu_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = _with_database(server_url, name)
    upgrade(url)
    return url


def drop_database(server_url: str, url: str) -> None:
    """Drop a database made by `create_database` (the server's URL, and the database's)."""
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@asynccontextmanager
async def private_database(server_url: str, max_size: int = 40) -> AsyncIterator[Database]:
    """A fresh migrated database of its own, for tests that must see only their rows."""
    url = await asyncio.to_thread(create_database, server_url)
    database = Database(url, max_size=max_size)
    await database.open()
    try:
        yield database
    finally:
        await database.close()
        await asyncio.to_thread(drop_database, server_url, url)


@pytest.fixture(scope="session", params=_backends())
def database_url(request: pytest.FixtureRequest, server_urls: dict[str, str]) -> Iterator[str]:
    yield create_database(server_urls[request.param])


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, max_size=40)
    await database.open()
    yield database
    await database.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    """The whole of zhifu's services on the test database (system clock)."""
    data_dir = Path(tempfile.mkdtemp(prefix="zhifu-test-data-"))
    rt = await Runtime.start(
        Settings(database_url=database_url, data_dir=data_dir, webhook_allow_hosts=LOCAL_RECEIVERS)
    )
    yield rt
    await rt.close()


@pytest.fixture(scope="session")
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the REST API, served in-process through ASGI."""
    app = create_app(runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://zhifu.test") as http:
        yield http
