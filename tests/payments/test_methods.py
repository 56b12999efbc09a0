"""The ways to pay as services: payment codes and taps (one charging path), QR codes,
devices, and the operator's CLI commands."""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from datetime import timedelta

import pytest
import typer
from typer.testing import CliRunner

from tests.payments.conftest import PIN, Shop
from zhifu.cli.main import app as cli
from zhifu.cli.payments import fee_rate_ppm
from zhifu.clock import ManualClock
from zhifu.errors import InsufficientFunds
from zhifu.merchants import Merchant
from zhifu.payments.acquiring import paycode, tap
from zhifu.payments.acquiring.devices import (
    MAX_ACTIVE_DEVICES,
    PaymentCodesExhausted,
    TooManyDevices,
)
from zhifu.payments.acquiring.methods import (
    CryptogramReplayed,
    Order,
    PaymentCodeUsed,
    TapSubmission,
    static_order_no,
)
from zhifu.payments.acquiring.qr import MerchantQr
from zhifu.payments.errors import PaymentCodeExpired, TradeExists, TradeNotFound
from zhifu.runtime import Runtime


def order(amount: int, out_trade_no: str | None = None) -> Order:
    return Order(out_trade_no=out_trade_no or uuid.uuid4().hex, amount=amount, subject="noodles")


async def verify_ok(runtime: Runtime) -> None:
    report = await runtime.ledger.verify()
    assert report.ok, report.breaches


async def code_for(runtime: Runtime, user_id: int) -> str:
    return (await runtime.payments.devices.current_code(user_id)).code


# The payment code.


async def test_a_code_pays_once_even_when_submitted_concurrently(shop: Shop) -> None:
    methods = shop.runtime.payments.methods
    merchant, buyer = await shop.merchant(), await shop.consumer(10_000)
    code = await code_for(shop.runtime, buyer)
    results = await asyncio.gather(
        *[methods.pay_with_code(merchant, order(700), code) for _ in range(6)],
        return_exceptions=True,
    )
    paid = [r for r in results if not isinstance(r, BaseException)]
    assert len(paid) == 1 and paid[0].state == "TRADE_SUCCESS"
    assert all(isinstance(r, PaymentCodeUsed) for r in results if isinstance(r, BaseException))
    assert await shop.wallet_balance(buyer) == 9_300
    await verify_ok(shop.runtime)


async def test_the_terminal_retrying_gets_the_same_trade(shop: Shop) -> None:
    methods = shop.runtime.payments.methods
    merchant, buyer = await shop.merchant(), await shop.consumer(10_000)
    code, first = await code_for(shop.runtime, buyer), order(700)
    paid = await methods.pay_with_code(merchant, first, code)
    again = await methods.pay_with_code(merchant, first, code)
    assert again == paid
    # A fresh code for an order already paid returns it and is not spent.
    fresh = await code_for(shop.runtime, buyer)
    assert (await methods.pay_with_code(merchant, first, fresh)).trade_no == paid.trade_no
    assert (await methods.pay_with_code(merchant, order(1), fresh)).state == "TRADE_SUCCESS"
    assert await shop.wallet_balance(buyer) == 9_299


async def test_above_the_allowance_the_trade_waits_and_the_code_is_spent(shop: Shop) -> None:
    methods = shop.runtime.payments.methods
    merchant, buyer = await shop.merchant(), await shop.consumer(100_000)
    code = await code_for(shop.runtime, buyer)
    waiting = await methods.pay_with_code(merchant, order(50_000), code)
    assert (waiting.state, waiting.buyer_user_id, waiting.method) == (
        "WAIT_BUYER_PAY",
        buyer,
        "payment_code",
    )
    assert waiting.expires_at - waiting.created_at == timedelta(minutes=5)
    with pytest.raises(PaymentCodeUsed):
        await methods.pay_with_code(merchant, order(10), code)
    assert [t.trade_no for t in await methods.awaiting_buyer(buyer)] == [waiting.trade_no]
    paid = (await shop.runtime.payments.paying.pay_trade(waiting.trade_no, buyer, pin=PIN)).trade
    assert paid.state == "TRADE_SUCCESS" and not paid.password_free
    assert await methods.awaiting_buyer(buyer) == []
    assert await shop.wallet_balance(buyer) == 50_000
    await verify_ok(shop.runtime)


async def test_a_refusal_for_funds_makes_no_trade_and_spends_no_code(shop: Shop) -> None:
    runtime = shop.runtime
    merchant, buyer = await shop.merchant(), await shop.consumer(100)
    code, first = await code_for(runtime, buyer), order(500)
    with pytest.raises(InsufficientFunds):
        await runtime.payments.methods.pay_with_code(merchant, first, code)
    with pytest.raises(TradeNotFound):
        await runtime.payments.trades.get(merchant.id, out_trade_no=first.out_trade_no)
    with pytest.raises(InsufficientFunds):
        await runtime.payments.methods.pay_with_code(merchant, order(500), code)
    await verify_ok(runtime)


async def test_another_buyers_order_number_is_refused(shop: Shop) -> None:
    methods = shop.runtime.payments.methods
    merchant = await shop.merchant()
    alice, bob = await shop.consumer(10_000), await shop.consumer(10_000)
    first = order(300)
    await methods.pay_with_code(merchant, first, await code_for(shop.runtime, alice))
    bobs_code = await code_for(shop.runtime, bob)
    with pytest.raises(TradeExists):
        await methods.pay_with_code(merchant, first, bobs_code)
    assert (await methods.pay_with_code(merchant, order(300), bobs_code)).buyer_user_id == bob


async def test_codes_expire_and_a_device_shows_six_a_minute(timed_shop: Shop) -> None:
    runtime = timed_shop.runtime
    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    methods, devices = runtime.payments.methods, runtime.payments.devices
    merchant, buyer = await timed_shop.merchant(), await timed_shop.consumer(10_000)
    clock.set(clock.now().replace(second=5))
    old = await code_for(runtime, buyer)
    clock.advance(timedelta(minutes=3))
    with pytest.raises(PaymentCodeExpired):
        await methods.pay_with_code(merchant, order(100), old)
    shown = []
    for _ in range(paycode.SLOTS):
        shown.append(await code_for(runtime, buyer))
        await methods.pay_with_code(merchant, order(100), shown[-1])
    assert len(set(shown)) == paycode.SLOTS
    assert [int(code[:2]) for code in shown] == list(range(25, 31))
    with pytest.raises(PaymentCodesExhausted):
        await devices.current_code(buyer)
    clock.advance(timedelta(minutes=1))
    assert (await devices.current_code(buyer)).code.startswith("25")
    await verify_ok(runtime)


async def test_a_consumer_has_at_most_ten_devices(shop: Shop) -> None:
    devices = shop.runtime.payments.devices
    buyer = await shop.consumer(0)
    for number in range(MAX_ACTIVE_DEVICES):
        await devices.register(buyer, f"phone {number}")
    with pytest.raises(TooManyDevices):
        await devices.register(buyer, "one more")
    oldest = (await devices.devices(buyer))[-1]
    await devices.revoke(buyer, oldest.id)
    assert (await devices.register(buyer, "one more")).device.name == "one more"


# Tap to pay.


async def test_a_tap_pays_once_even_when_replayed_concurrently(shop: Shop) -> None:
    runtime = shop.runtime
    merchant, buyer = await shop.merchant(), await shop.consumer(10_000)
    store = await runtime.payments.merchants.add_store(merchant.id, "Kiosk")
    terminal = await runtime.payments.merchants.add_terminal(merchant.id, store["id"], "pad")
    private_pem, public_pem = tap.new_device_key()
    device = (await runtime.payments.devices.register(buyer, "Watch", public_pem)).device
    signed = tap.TapRequest(
        token=device.tap_token,
        terminal_id=str(terminal["id"]),
        amount=450,
        currency="CNY",
        counter=1,
        timestamp=runtime.clock.now(),
    )
    submission = TapSubmission(
        tap_token=device.tap_token,
        terminal_id=signed.terminal_id,
        counter=1,
        timestamp=signed.timestamp,
        cryptogram=tap.sign_tap(private_pem, signed),
    )
    results = await asyncio.gather(
        *[
            runtime.payments.methods.pay_with_tap(merchant, order(450), submission)
            for _ in range(5)
        ],
        return_exceptions=True,
    )
    paid = [r for r in results if not isinstance(r, BaseException)]
    assert len(paid) == 1 and (paid[0].store_id, paid[0].terminal_id) == (
        store["id"],
        terminal["id"],
    )
    assert all(isinstance(r, CryptogramReplayed) for r in results if isinstance(r, BaseException))
    assert await shop.wallet_balance(buyer) == 9_550
    await verify_ok(runtime)


# QR codes.


async def test_qr_codes_name_the_merchant_in_ascii_and_in_its_own_script(shop: Shop) -> None:
    merchants, methods = shop.runtime.payments.merchants, shop.runtime.payments.methods
    cafe, _ = await merchants.create("Café Lumière 咖啡", city="上海")
    made = await methods.precreate(cafe, order(1_000))
    code = MerchantQr.parse(made.qr_payload)
    assert (code.merchant_name, code.merchant_city) == ("Cafe Lumiere", "-")
    assert code.local is not None and code.local.merchant_name == "Café Lumière 咖啡"
    assert (code.trade_ref, code.amount, code.merchant_ref) == (
        made.trade.trade_no,
        1_000,
        str(cafe.id),
    )
    tea, _ = await merchants.create("老北京茶馆")
    store = await merchants.add_store(tea.id, "前门")
    static = MerchantQr.parse(await methods.store_qr(tea, store["id"]))
    assert static.merchant_name == f"zhifu merchant {tea.id}" and not static.dynamic
    assert (static.store_ref, static.local and static.local.merchant_name) == (
        str(store["id"]),
        "老北京茶馆",
    )


async def test_precreate_is_idempotent_and_refuses_what_a_code_cannot_carry(shop: Shop) -> None:
    methods = shop.runtime.payments.methods
    merchant: Merchant = await shop.merchant()
    first = order(2_000)
    made = await methods.precreate(merchant, first)
    assert await methods.precreate(merchant, first) == made
    huge = order(10**14)
    with pytest.raises(Exception) as refused:
        await methods.precreate(merchant, huge)
    assert getattr(refused.value, "code", None) == "invalid_qr"
    with pytest.raises(TradeNotFound):  # the refusal created nothing
        await shop.runtime.payments.trades.get(merchant.id, out_trade_no=huge.out_trade_no)


def test_static_order_numbers_fit_and_differ() -> None:
    longest = static_order_no(2**63 - 1, "k" * 255)
    assert len(longest) <= 64
    assert static_order_no(1, "a") != static_order_no(1, "b") != static_order_no(2, "a")


# The operator's CLI.


@pytest.mark.parametrize(
    ("percent", "ppm"),
    [("0.6", 6_000), ("0", 0), ("100", 1_000_000), ("1.2345", 12_345), ("2.50", 25_000)],
)
def test_fee_rates_are_percentages_read_exactly(percent: str, ppm: int) -> None:
    assert fee_rate_ppm(percent) == ppm


@pytest.mark.parametrize("percent", ["-1", "0.00001", "101", "abc", "1e2", "", "100.5"])
def test_bad_fee_rates_are_refused(percent: str) -> None:
    with pytest.raises(typer.BadParameter):
        fee_rate_ppm(percent)


def test_cli_creates_a_merchant_and_shows_a_payment_code(database_url: str) -> None:
    runner = CliRunner()
    where = ["--database-url", database_url, "--data-dir", tempfile.mkdtemp()]
    made = runner.invoke(
        cli, ["merchant", "create", "--name", "Noodle Bar", "--fee-rate", "0.38", "--json", *where]
    )
    assert made.exit_code == 0, made.output
    merchant = json.loads(made.stdout)
    assert merchant["fee_rate_ppm"] == 3_800 and merchant["secret_key"].startswith("sk_")

    phone = f"136{uuid.uuid4().int % 10**8:08d}"
    user = ["user", "create", "--phone", phone, "--password", "password-123", *where]
    assert runner.invoke(cli, user).exit_code == 0
    shown = runner.invoke(cli, ["user", "payment-code", phone, "--json", *where])
    assert shown.exit_code == 0, shown.output
    code = json.loads(shown.stdout)
    assert paycode.identify(code["code"]) == code["device_id"] and code["expires_in"] > 0

    bad = runner.invoke(cli, ["merchant", "create", "--name", "X", "--fee-rate", "0.6%", *where])
    assert bad.exit_code == 2
