from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.payments.conftest import Shop
from zhifu.clock import ManualClock
from zhifu.errors import RateLimited
from zhifu.payments.acquiring import paycode
from zhifu.payments.acquiring.methods import Order
from zhifu.payments.errors import InvalidPaymentCode, PaymentCodeExpired

# 2026-01-01T00:00:00Z is a step boundary (its unix time is a multiple of 60).
START = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
DEVICE = 4_200_000_017
SECRET = bytes(range(32))


def server_accepts(code: str, secrets_by_device: dict[int, bytes], now: datetime) -> int:
    """The server's flow: find the device from the code, then verify with its secret."""
    secret = secrets_by_device.get(paycode.identify(code))
    if secret is None:
        raise InvalidPaymentCode("unknown device")
    return paycode.verify(code, secret, now)


# RFC 6238 appendix B, SHA-256 rows: 30 s steps, 8 digits, 32-byte ASCII seed.
@pytest.mark.parametrize(
    ("unix_time", "expected"),
    [
        (59, "46119246"),
        (1111111109, "68084774"),
        (1111111111, "67062674"),
        (1234567890, "91819424"),
        (2000000000, "90698825"),
        (20000000000, "77737706"),
    ],
)
def test_hotp_matches_rfc_6238_sha256_vectors(unix_time: int, expected: str) -> None:
    seed = b"12345678901234567890123456789012"
    assert paycode.hotp(seed, unix_time // 30, digits=8) == expected


def test_code_format() -> None:
    code = paycode.generate(DEVICE, SECRET, START)
    assert len(code) == 18 and code.isdigit()
    assert code.startswith("25")
    assert str(DEVICE) not in code


def test_slots_give_six_distinct_codes_with_distinct_counters() -> None:
    codes = [paycode.generate(DEVICE, SECRET, START, slot=slot) for slot in range(6)]
    assert [code[:2] for code in codes] == ["25", "26", "27", "28", "29", "30"]
    counters = {paycode.verify(code, SECRET, START) for code in codes}
    assert len(counters) == 6
    assert all(paycode.identify(code) == DEVICE for code in codes)


def test_valid_now_and_identity_to_store() -> None:
    code = paycode.generate(DEVICE, SECRET, START)
    assert paycode.identify(code) == DEVICE
    counter = paycode.verify(code, SECRET, START)
    assert counter == paycode.step(START) * paycode.SLOTS
    assert server_accepts(code, {DEVICE: SECRET}, START) == counter


def test_valid_59_seconds_later_through_the_previous_step() -> None:
    clock = ManualClock(START)
    code = paycode.generate(DEVICE, SECRET, clock.now())
    counter = paycode.verify(code, SECRET, clock.now())
    later = clock.advance(timedelta(seconds=59))
    assert paycode.step(later) == paycode.step(START) + 1
    assert paycode.verify(code, SECRET, later) == counter


def test_expired_after_two_minutes() -> None:
    clock = ManualClock(START)
    code = paycode.generate(DEVICE, SECRET, clock.now())
    clock.advance(timedelta(minutes=2))
    with pytest.raises(PaymentCodeExpired) as caught:
        paycode.verify(code, SECRET, clock.now())
    assert caught.value.code == "payment_code_expired"
    assert caught.value.status == 422


def test_long_dead_code_is_simply_invalid() -> None:
    code = paycode.generate(DEVICE, SECRET, START)
    with pytest.raises(InvalidPaymentCode) as caught:
        paycode.verify(code, SECRET, START + timedelta(hours=1))
    assert caught.value.code == "invalid_payment_code"


def test_device_clock_slightly_fast_is_tolerated() -> None:
    boundary = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    code = paycode.generate(DEVICE, SECRET, boundary + timedelta(seconds=3))
    assert paycode.verify(code, SECRET, boundary - timedelta(seconds=5))
    with pytest.raises(InvalidPaymentCode):
        paycode.verify(code, SECRET, boundary - timedelta(seconds=30))


def test_wrong_secret_is_refused() -> None:
    code = paycode.generate(DEVICE, SECRET, START)
    with pytest.raises(InvalidPaymentCode) as caught:
        paycode.verify(code, paycode.new_device_secret(), START)
    assert not isinstance(caught.value, PaymentCodeExpired)


def test_every_single_digit_change_is_refused() -> None:
    code = paycode.generate(DEVICE, SECRET, START)
    for position in range(len(code)):
        for digit in "0123456789":
            if digit == code[position]:
                continue
            tampered = code[:position] + digit + code[position + 1 :]
            with pytest.raises(InvalidPaymentCode):
                server_accepts(tampered, {DEVICE: SECRET}, START)


def test_the_otp_binds_the_device_digits() -> None:
    # Even a caller that verifies with the right device's secret, but lets the code name
    # another device, gets a refusal: the device digits are authenticated too.
    code = paycode.generate(DEVICE, SECRET, START)
    for position in range(2, 12):
        digit = "1" if code[position] != "1" else "2"
        with pytest.raises(InvalidPaymentCode):
            paycode.verify(code[:position] + digit + code[position + 1 :], SECRET, START)


@pytest.mark.parametrize(
    "code",
    [
        "",
        "25",
        "25123456789012345",  # 17 digits
        "2512345678901234567",  # 19 digits
        "24" + "0" * 16,  # prefix below the range
        "31" + "0" * 16,
        "00" + "0" * 16,
        "25" + "0" * 15 + "a",
        "25" + "0" * 15 + "٣",  # a non-ASCII digit
        "25 " + "0" * 15,
        "25" + "0" * 16 + "\n",
        None,
        251234567890123456,
    ],
)
def test_bad_formats_are_refused(code: Any) -> None:
    with pytest.raises(InvalidPaymentCode):
        paycode.identify(code)
    with pytest.raises(InvalidPaymentCode):
        paycode.verify(code, SECRET, START)


@given(
    st.integers(0, paycode.DEVICE_NUMBER_LIMIT - 1),
    st.integers(0, paycode.DEVICE_NUMBER_LIMIT - 1),
    st.integers(0, 5),
    st.integers(1_500_000_000, 4_000_000_000),
)
def test_codes_identify_their_device_and_differ(
    device: int, other: int, slot: int, unix_time: int
) -> None:
    now = datetime.fromtimestamp(unix_time, UTC)
    code = paycode.generate(device, SECRET, now, slot=slot)
    assert paycode.identify(code) == device
    assert paycode.verify(code, SECRET, now) == paycode.step(now) * 6 + slot
    if other != device:
        assert paycode.generate(other, SECRET, now, slot=slot) != code


def test_successive_codes_of_a_device_do_not_repeat_its_digits() -> None:
    fields = {
        paycode.generate(DEVICE, SECRET, START + timedelta(minutes=minute))[2:12]
        for minute in range(20)
    }
    assert len(fields) == 20


def test_new_device_secret() -> None:
    first, second = paycode.new_device_secret(), paycode.new_device_secret()
    assert len(first) == 32 and first != second


@pytest.mark.parametrize(
    "arguments",
    [
        {"device_number": -1},
        {"device_number": paycode.DEVICE_NUMBER_LIMIT},
        {"device_number": True},
        {"slot": 6},
        {"secret": b"short"},
        {"now": datetime(2026, 1, 1)},  # naive
    ],
)
def test_generate_refuses_programming_errors(arguments: dict[str, Any]) -> None:
    call: dict[str, Any] = {"device_number": DEVICE, "secret": SECRET, "now": START}
    with pytest.raises(ValueError):
        paycode.generate(**{**call, **arguments})


# Guessing codes at the till.


async def test_guessed_codes_pause_the_terminal_and_the_merchant(timed_shop: Shop) -> None:
    runtime = timed_shop.runtime
    methods, clock = runtime.payments.methods, runtime.clock
    assert isinstance(clock, ManualClock)
    merchant, buyer = await timed_shop.merchant(), await timed_shop.consumer(10_000)
    store = await runtime.payments.merchants.add_store(merchant.id, "Tea house")
    terminal = await runtime.payments.merchants.add_terminal(merchant.id, store["id"], "till 1")
    till = Order(out_trade_no="t", amount=100, subject="tea", terminal_id=terminal["id"])
    guesses = [f"25{n:016d}" for n in range(paycode.TERMINAL_GUESSES.limit + 5)]
    results = await asyncio.gather(
        *[methods.pay_with_code(merchant, replace(till, out_trade_no=g), g) for g in guesses],
        return_exceptions=True,
    )
    assert sum(type(r) is InvalidPaymentCode for r in results) == paycode.TERMINAL_GUESSES.limit
    assert sum(isinstance(r, RateLimited) for r in results) == 5
    code = (await runtime.payments.devices.current_code(buyer)).code
    with pytest.raises(RateLimited):  # even a good code, until the window ends
        await methods.pay_with_code(merchant, till, code)
    # Another terminal of the merchant still scans, until the merchant's own limit.
    left = paycode.MERCHANT_GUESSES.limit - paycode.TERMINAL_GUESSES.limit
    for n in range(left):
        with pytest.raises(InvalidPaymentCode):
            await methods.pay_with_code(merchant, replace(till, terminal_id=None), f"26{n:016d}")
    with pytest.raises(RateLimited):
        await methods.pay_with_code(merchant, replace(till, terminal_id=None), code)
    clock.advance(paycode.GUESS_WINDOW)
    code = (await runtime.payments.devices.current_code(buyer)).code
    assert (await methods.pay_with_code(merchant, till, code)).state == "TRADE_SUCCESS"
