"""The pure rules of identity: phone numbers, passwords, PINs and their lockout,
card numbers."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from zhifu.clock import ManualClock
from zhifu.errors import (
    IncorrectPin,
    InvalidCardNumber,
    InvalidPhone,
    InvalidPin,
    PinLocked,
    WeakPassword,
)
from zhifu.identity import KYC_LIMITS, mask_phone, normalise_phone
from zhifu.identity.card_numbers import card_brand, check_number, luhn_valid
from zhifu.identity.credentials import (
    CLEAR,
    MAX_PIN_ATTEMPTS,
    PIN_LOCKOUT,
    after_attempt,
    check_password,
    check_pin,
    refuse_if_locked,
)

SECRET = b"k" * 32


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("13812345678", "+8613812345678"),
        ("138 1234 5678", "+8613812345678"),
        ("+86 138-1234-5678", "+8613812345678"),
        ("008613812345678", "+8613812345678"),
        ("+44 7911 123456", "+447911123456"),
    ],
)
def test_phones_are_normalised(text: str, normalised: str) -> None:
    assert normalise_phone(text) == normalised


@pytest.mark.parametrize(
    "text", ["", "12345678901", "1381234567", "+8612345", "+86123456789012", "phone", "+0123456789"]
)
def test_bad_phones_are_refused(text: str) -> None:
    with pytest.raises(InvalidPhone):
        normalise_phone(text)


def test_phones_are_masked() -> None:
    assert mask_phone("+8613812345678") == "138****5678"
    assert mask_phone("+447911123456") == "+447****3456"


def test_password_and_pin_rules() -> None:
    assert check_password("eight ch") == "eight ch"
    for weak in ("short", "x" * 129):
        with pytest.raises(WeakPassword):
            check_password(weak)
    assert check_pin("802413") == "802413"
    for bad in ("12345", "1234567", "12a456", "１２３４５６", "111111", "123456", "987654"):
        with pytest.raises(InvalidPin):
            check_pin(bad)


def test_fifth_wrong_pin_locks_for_fifteen_minutes() -> None:
    clock = ManualClock()
    state = CLEAR
    for attempt in range(1, MAX_PIN_ATTEMPTS):
        state, error = after_attempt(state, False, clock.now())
        assert isinstance(error, IncorrectPin)
        assert error.details["attempts_left"] == MAX_PIN_ATTEMPTS - attempt
    state, error = after_attempt(state, False, clock.now())
    assert isinstance(error, PinLocked)
    assert state.locked_until == clock.now() + PIN_LOCKOUT
    with pytest.raises(PinLocked):
        refuse_if_locked(state, clock.advance(PIN_LOCKOUT - timedelta(seconds=1)))
    refuse_if_locked(state, clock.advance(timedelta(seconds=1)))
    assert after_attempt(state, True, clock.now()) == (CLEAR, None)


def test_kyc_limits_escalate() -> None:
    tiers = [KYC_LIMITS[t] for t in sorted(KYC_LIMITS)]
    assert sorted(KYC_LIMITS) == [0, 1, 2, 3]
    for lower, higher in itertools.pairwise(tiers):
        assert lower.single_payment < higher.single_payment
        assert lower.daily_outflow < higher.daily_outflow
    assert KYC_LIMITS[0].to_dict()["single_payment_decimal"] == "500.00"
    assert KYC_LIMITS[3].balance_cap is None


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4111 1111 1111 1111", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("6212345678901232", "unionpay"),
        ("3530111333300000", "jcb"),
        ("6011111111111117", "discover"),
    ],
)
def test_card_brands_come_from_the_iin(number: str, brand: str) -> None:
    checked = check_number(SECRET, "card", number)
    assert checked.brand == brand
    assert checked.last4 == number[-4:]
    assert card_brand(number.replace(" ", "")) == brand


@pytest.mark.parametrize(
    "number",
    [
        "4111111111111112",  # check digit wrong
        "411111111111",  # 12 digits
        "41111111111111111113",  # 20 digits
        "4111-1111-1111-111a",
        "",
    ],
)
def test_bad_card_numbers_are_refused(number: str) -> None:
    with pytest.raises(InvalidCardNumber):
        check_number(SECRET, "card", number)


def test_account_numbers_and_fingerprints() -> None:
    iban = check_number(SECRET, "account", "GB82 WEST 1234 5698 7654 32")
    assert (iban.brand, iban.last4) == ("bank_account", "5432")
    assert iban == check_number(SECRET, "account", "gb82west12345698765432")
    assert (
        iban.fingerprint != check_number(b"x" * 32, "account", "GB82WEST12345698765432").fingerprint
    )
    for bad in ("1234567", "A" * 35, "12345678!"):
        with pytest.raises(InvalidCardNumber):
            check_number(SECRET, "account", bad)
    with pytest.raises(InvalidCardNumber):
        check_number(SECRET, "wallet", "4111111111111111")
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
