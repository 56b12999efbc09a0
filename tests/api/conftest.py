"""The REST API on a clock that only moves when a test moves it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import settings_for
from zhifu.api.app import create_app
from zhifu.clock import ManualClock
from zhifu.runtime import Runtime


@pytest.fixture(scope="module")
async def timed(database_url: str) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    settings = settings_for(database_url)
    runtime = await Runtime.start(settings, clock=ManualClock())
    transport = httpx.ASGITransport(app=create_app(runtime), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://zhifu.test") as http:
        yield runtime, http
    await runtime.close()
