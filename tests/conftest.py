"""Test databases: a fresh database on the embedded server, and on the external server
named by ZHIFU_TEST_DATABASE_URL when it is set. Tests that take `db` run on each.

A run leaves nothing behind: every temporary directory (tempfile's, for this process)
lives under one session directory removed at the end, the embedded server is stopped,
every database `create_database` made is dropped by whoever made it, and the session
fails at its end if one was left. Pools are small (POOL_SIZE): the embedded server takes
100 connections, shared by every fixture alive at once."""

from __future__ import annotations

import asyncio
import os
import shutil
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
from zhifu.config import CapabilitySettings
from zhifu.db import Database
from zhifu.db.embedded import start_embedded, stop_embedded
from zhifu.db.migrate import upgrade
from zhifu.db.settings import DatabaseSettings
from zhifu.events import Destinations
from zhifu.events.settings import WebhookSettings
from zhifu.runtime import Runtime
from zhifu.settings import Settings

# The tests' webhook and notify receivers listen on 127.0.0.1, which zhifu refuses as a
# destination unless allowed; the `zhifu serve` children read it from the environment.
LOCAL_RECEIVERS = ("127.0.0.1",)
LOCAL = Destinations(LOCAL_RECEIVERS)
os.environ["ZHIFU_WEBHOOK_ALLOW_HOSTS"] = ",".join(LOCAL_RECEIVERS)

POOL_SIZE = 5  # connections of one fixture's pool at most
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="zhifu-test-"))
tempfile.tempdir = str(_SESSION_TMP)  # every mkdtemp() of the suite lands here
_EMBEDDED_DIR = Path(
    os.environ.get("ZHIFU_TEST_EMBEDDED_DIR") or tempfile.mkdtemp(prefix="zhifu-test-pg-")
)
_MADE: set[tuple[str, str]] = set()  # (server URL, database name) made and not yet dropped


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
def server_urls() -> Iterator[dict[str, str]]:
    urls = {"embedded": start_embedded(_EMBEDDED_DIR)}
    if os.environ.get("ZHIFU_TEST_DATABASE_URL"):
        urls["external"] = os.environ["ZHIFU_TEST_DATABASE_URL"]
    yield urls
    left = _left_behind(urls["embedded"])
    stop_embedded(_EMBEDDED_DIR)
    if left:
        pytest.fail(f"the tests left databases behind (drop what you create): {left}")


def _left_behind(embedded_url: str) -> list[str]:
    """Test databases still there: any on the embedded server (this run's own), and those
    this run made on an external one."""
    with psycopg.connect(embedded_url, autocommit=True) as conn:
        rows = conn.execute(
            "select datname from pg_database where datname like 'zhifu\\_test\\_%'"
        ).fetchall()
    left = {name for (name,) in rows}
    for server_url, name in _MADE:
        with psycopg.connect(server_url, autocommit=True) as conn:
            if conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
                left.add(name)
    return sorted(left)


def pytest_sessionfinish() -> None:
    shutil.rmtree(_SESSION_TMP, ignore_errors=True)


def create_database(server_url: str) -> str:
    """Create and migrate a fresh database on a server; return its URL. Whoever makes
    one drops it (`drop_database`)."""
    name = f"zhifu_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    _MADE.add((server_url, name))
    url = _with_database(server_url, name)
    upgrade(url)
    return url


def drop_database(server_url: str, url: str) -> None:
    """Drop a database made by `create_database` (the server's URL, and the database's)."""
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
    _MADE.discard((server_url, name))


@asynccontextmanager
async def private_database(server_url: str, max_size: int = POOL_SIZE) -> AsyncIterator[Database]:
    """A fresh migrated database of its own, for tests that must see only their rows."""
    url = await asyncio.to_thread(create_database, server_url)
    database = Database(url, min_size=1, max_size=max_size)
    await database.open()
    try:
        yield database
    finally:
        await database.close()
        await asyncio.to_thread(drop_database, server_url, url)


@pytest.fixture(scope="session", params=_backends())
def database_url(request: pytest.FixtureRequest, server_urls: dict[str, str]) -> Iterator[str]:
    server_url = server_urls[request.param]
    url = create_database(server_url)
    yield url
    drop_database(server_url, url)


def settings_for(database_url: str, **parts: CapabilitySettings) -> Settings:
    """Settings for a runtime of the tests: a small pool, a data directory of its own, the
    local receivers allowed; `parts` replace whole capabilities' settings."""
    data_dir = Path(tempfile.mkdtemp(prefix="zhifu-test-data-"))
    database = DatabaseSettings(
        database_url=database_url, data_dir=data_dir, db_pool_size=POOL_SIZE
    )
    webhooks = WebhookSettings(allow_hosts=LOCAL_RECEIVERS)
    return Settings(**{"db": database, "webhooks": webhooks, **parts})


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, min_size=1, max_size=POOL_SIZE)
    await database.open()
    yield database
    await database.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    """The whole of zhifu's services on the test database (system clock)."""
    rt = await Runtime.start(settings_for(database_url))
    yield rt
    await rt.close()


@pytest.fixture(scope="session")
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the REST API, served in-process through ASGI."""
    app = create_app(runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://zhifu.test") as http:
        yield http
