"""Money at the edges: exact decimal parsing and formatting, and splitting with no cent lost."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhifu.errors import CurrencyMismatch, InvalidAmount, UnknownCurrency
from zhifu.money import (
    CURRENCIES,
    MAX_AMOUNT,
    Money,
    check_currency,
    check_minor,
    format_decimal,
    parse_decimal,
    split_evenly,
)


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.34", "CNY", 1234),
        ("12.3", "CNY", 1230),
        ("12", "CNY", 1200),
        ("0.01", "CNY", 1),
        ("0.10", "USD", 10),
        ("10", "CNY", 1000),
        ("1000", "JPY", 1000),
        ("1", "KRW", 1),
        ("10000000000000.00", "CNY", MAX_AMOUNT),
        ("1000000000000000", "JPY", MAX_AMOUNT),
    ],
)
def test_parse_decimal_is_exact(text: str, currency: str, minor: int) -> None:
    assert parse_decimal(text, currency) == minor
    assert Money.parse(text, currency) == Money(minor, currency)


@pytest.mark.parametrize(
    "text",
    [
        "12.345",  # more decimals than the currency has: never rounded
        "0.001",
        "-1",
        "-0.01",
        "+1",
        "1e3",
        "1E3",
        " 12",
        "12 ",
        "12\n",
        "",
        ".",
        ".5",
        "5.",
        "01",
        "00.5",
        "1,000.00",
        "1_000",
        "12.3.4",
        "0x10",
        "NaN",
        "inf",
        "Infinity",
        "١٢",  # Arabic-Indic digits: str.isdigit() would say yes
        "１２",  # fullwidth digits
        "0",  # not a positive amount
        "0.00",
        "10000000000000.01",  # one fen above MAX_AMOUNT
        "99999999999999999",  # 17 digits
        "9223372036854775808",  # 2**63
        "18446744073709551616",  # 2**64
        "9" * 400,
        "1." + "0" * 400,
    ],
)
def test_parse_decimal_refuses(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_decimal(text, "CNY")


@pytest.mark.parametrize("value", [12, 12.34, 1e3, None, b"12", Decimal("12.34"), True, ["1"]])
def test_parse_decimal_refuses_non_strings(value: object) -> None:
    with pytest.raises(InvalidAmount):
        parse_decimal(value, "CNY")  # type: ignore[arg-type]


def test_zero_decimal_currencies_take_no_fraction() -> None:
    assert CURRENCIES["JPY"] == 0
    assert parse_decimal("500", "JPY") == 500
    for text in ("500.0", "500.00", "0.5"):
        with pytest.raises(InvalidAmount):
            parse_decimal(text, "JPY")
    assert format_decimal(500, "JPY") == "500"
    assert format_decimal(-500, "JPY") == "-500"
    assert str(Money(500, "JPY")) == "500 JPY"


@pytest.mark.parametrize("currency", ["cny", "XXX", "", "CNY ", None, 156, ["CNY"], {"CNY": 2}])
def test_unknown_currency_is_refused(currency: object) -> None:
    with pytest.raises(UnknownCurrency):
        check_currency(currency)  # type: ignore[arg-type]
    with pytest.raises(UnknownCurrency):
        parse_decimal("1.00", currency)  # type: ignore[arg-type]
    with pytest.raises(UnknownCurrency):
        format_decimal(100, currency)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1234, "CNY", "12.34"),
        (5, "CNY", "0.05"),
        (-5, "CNY", "-0.05"),
        (-1234, "USD", "-12.34"),
        (0, "CNY", "0.00"),
        (100, "CNY", "1.00"),
        (MAX_AMOUNT, "CNY", "10000000000000.00"),
        (0, "JPY", "0"),
    ],
)
def test_format_decimal(minor: int, currency: str, text: str) -> None:
    assert format_decimal(minor, currency) == text


@pytest.mark.parametrize("value", [12.5, 1.0, True, "12", Decimal("1.5"), None])
def test_format_decimal_refuses_non_integers(value: object) -> None:
    with pytest.raises(InvalidAmount):
        format_decimal(value, "CNY")  # type: ignore[arg-type]


@given(
    minor=st.integers(min_value=1, max_value=MAX_AMOUNT),
    currency=st.sampled_from(sorted(CURRENCIES)),
)
def test_format_then_parse_round_trips(minor: int, currency: str) -> None:
    text = format_decimal(minor, currency)
    assert parse_decimal(text, currency) == minor
    # and agrees with exact decimal arithmetic
    assert Decimal(text) == Decimal(minor).scaleb(-CURRENCIES[currency])


@given(minor=st.integers(min_value=-(10**18), max_value=10**18))
def test_format_decimal_is_exact_for_any_integer(minor: int) -> None:
    assert Decimal(format_decimal(minor, "CNY")) == Decimal(minor).scaleb(-2)


@pytest.mark.parametrize(
    ("amount", "allow_zero", "ok"),
    [
        (1, False, True),
        (MAX_AMOUNT, False, True),
        (MAX_AMOUNT + 1, False, False),
        (2**63, False, False),
        (0, False, False),
        (0, True, True),
        (-1, True, False),
        (True, False, False),
        (False, True, False),
        (1.0, False, False),
        ("1", False, False),
        (None, False, False),
    ],
)
def test_check_minor(amount: object, allow_zero: bool, ok: bool) -> None:
    if ok:
        assert check_minor(amount, allow_zero=allow_zero) == amount  # type: ignore[arg-type]
    else:
        with pytest.raises(InvalidAmount):
            check_minor(amount, allow_zero=allow_zero)  # type: ignore[arg-type]


def test_money_arithmetic_keeps_currency() -> None:
    a, b = Money(1050, "CNY"), Money(250, "CNY")
    assert a + b == Money(1300, "CNY")
    assert a - b == Money(800, "CNY")
    assert b - a == Money(-800, "CNY")
    assert -a == Money(-1050, "CNY")
    assert str(b - a) == "-8.00 CNY"
    with pytest.raises(CurrencyMismatch):
        _ = a + Money(1, "USD")
    with pytest.raises(CurrencyMismatch):
        _ = a - Money(1, "USD")
    for bad in (1.5, True, "1", None):
        with pytest.raises(InvalidAmount):
            Money(bad, "CNY")  # type: ignore[arg-type]
    with pytest.raises(UnknownCurrency):
        Money(1, "XYZ")


@given(
    amount=st.integers(min_value=-(10**15), max_value=10**15),
    parts=st.integers(min_value=1, max_value=1000),
)
def test_split_evenly_sums_exactly_and_shares_differ_by_at_most_one(
    amount: int, parts: int
) -> None:
    shares = split_evenly(amount, parts)
    assert len(shares) == parts
    assert sum(shares) == amount
    assert max(shares) - min(shares) <= 1
    assert all(isinstance(share, int) and not isinstance(share, bool) for share in shares)
    # larger shares first, so who gets the extra cent is deterministic
    assert shares == sorted(shares, reverse=True)


def test_split_evenly_examples_and_refusals() -> None:
    assert split_evenly(100, 3) == [34, 33, 33]
    assert split_evenly(2, 5) == [1, 1, 0, 0, 0]
    assert split_evenly(0, 2) == [0, 0]
    for parts in (0, -1):
        with pytest.raises(ValueError):
            split_evenly(100, parts)
    for amount in (10.0, Decimal(10), "10", True):
        with pytest.raises(InvalidAmount):
            split_evenly(amount, 3)  # type: ignore[arg-type]
