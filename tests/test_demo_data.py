"""`zhifu serve --demo`, started again and again."""

from __future__ import annotations

import re

from zhifu.demo_data import MERCHANT, seed_and_describe
from zhifu.runtime import Runtime


async def test_each_start_leaves_the_demo_merchant_one_live_key_the_printed_one(
    runtime: Runtime,
) -> None:
    await seed_and_describe(runtime)
    told = await seed_and_describe(runtime)

    printed = re.search(r"API key (sk_\S+)", told)
    assert printed is not None
    merchant = await runtime.payments.merchants.authenticate(printed.group(1))
    assert merchant.name == MERCHANT
    keys = await runtime.payments.merchants.list_keys(merchant.id)
    assert [key.revoked_at for key in keys].count(None) == 1
