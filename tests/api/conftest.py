"""The REST API on a clock that only moves when a test moves it."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LOCAL_RECEIVERS
from zhifu.api.app import create_app
from zhifu.clock import ManualClock
from zhifu.config import Settings
from zhifu.runtime import Runtime


@pytest.fixture(scope="module")
async def timed(database_url: str) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    settings = Settings(
        database_url=database_url,
        data_dir=Path(tempfile.mkdtemp()),
        webhook_allow_hosts=LOCAL_RECEIVERS,
    )
    runtime = await Runtime.start(settings, clock=ManualClock())
    transport = httpx.ASGITransport(app=create_app(runtime), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://zhifu.test") as http:
        yield runtime, http
    await runtime.close()
