"""`zhifu serve --demo`: demo consumers with cards and money, and a demo merchant with a
merchant portal login.

Seeding goes through the same services as real users (sign-up, card linking, a top-up
through the bank simulator), so the demo's money is real ledger money. It is idempotent:
a restart with --demo finds the demo users and only replaces the merchant's API key: secret
keys are stored hashed and cannot be shown again, so the old key is revoked and a new one
printed, and the demo merchant always has exactly one live key.
"""

from __future__ import annotations

import contextlib

from zhifu.errors import NotFound
from zhifu.merchants import LoginTaken
from zhifu.money import format_decimal
from zhifu.runtime import Runtime

PASSWORD = "zhifu-demo-1"
PIN = "135790"
CARD = "6222020200112233446"  # a UnionPay test card the bank simulator honours
TOPUP = 100_000  # 1,000.00 CNY
CONSUMERS = (("Alice", "13800000001"), ("Bob", "13800000002"))
MERCHANT = "Demo Coffee"
MERCHANT_LOGIN = "coffee"  # signs in to the merchant portal with PASSWORD


async def _consumer(runtime: Runtime, phone: str) -> int:
    try:
        return (await runtime.users.by_phone(phone)).id
    except NotFound:
        pass
    user = await runtime.users.signup(phone, PASSWORD, kyc_tier=2)
    await runtime.users.set_pin(user.id, PIN)
    card = await runtime.cards.link(user.id, CARD, holder_name="Demo")
    await runtime.funding.topup(user.id, card.id, TOPUP, "CNY", f"demo-seed-{phone}")
    return user.id


async def _merchant(runtime: Runtime) -> tuple[int, str]:
    merchants = runtime.payments.merchants
    row = await runtime.db.fetch_one(
        "select id from merchant where name = %s order by id limit 1", (MERCHANT,)
    )
    if row is None:
        merchant, key = await merchants.create(MERCHANT)
        await merchants.add_terminal(
            merchant.id, (await merchants.add_store(merchant.id, "Nanjing Road"))["id"], "Till 1"
        )
        return merchant.id, str(key.secret_key)
    key = await merchants.replace_keys(row["id"])
    return row["id"], str(key.secret_key)


async def seed_and_describe(runtime: Runtime) -> str:
    """Seed the demo data (once) and describe how to log in."""
    lines = ["Demo data:"]
    for name, phone in CONSUMERS:
        user_id = await _consumer(runtime, phone)
        balance = await runtime.transfers.balance(user_id)
        amount = format_decimal(balance.available, "CNY")
        lines.append(
            f"  consumer {name}: phone {phone}, password {PASSWORD}, PIN {PIN}, "
            f"balance {amount} CNY"
        )
    merchant_id, secret = await _merchant(runtime)
    with contextlib.suppress(LoginTaken):  # made by an earlier start
        await runtime.payments.portal.create(merchant_id, MERCHANT_LOGIN, PASSWORD)
    lines.append(f"  merchant {MERCHANT} (id {merchant_id}): API key {secret}")
    lines.append(
        f"  merchant portal (/merchant/login): login {MERCHANT_LOGIN}, password {PASSWORD}"
    )
    return "\n".join(lines)
