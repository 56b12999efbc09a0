"""The pool when its server goes away and comes back."""

from __future__ import annotations

import pytest

from zhifu.db import Database
from zhifu.errors import ServiceUnavailable


async def test_a_lost_database_refuses_work_at_once_and_serves_again_when_regained(
    database_url: str,
) -> None:
    async with Database(database_url, min_size=1, max_size=2) as db:
        await db.lost()
        with pytest.raises(ServiceUnavailable):
            await db.fetch_one("select 1")
        with pytest.raises(ServiceUnavailable):
            await db.ping(within=0.8)
        await db.regained()
        assert await db.fetch_one("select 1 as one") == {"one": 1}
        await db.ping(within=0.8)
