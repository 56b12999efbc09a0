"""Money is an integer count of minor units with an ISO 4217 currency code.

Decimal strings exist only at the edges and are parsed exactly: "12.34" is 1234 fen;
"12.345", "-1", "1e3" and " 12" are errors, never rounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from zhifu.errors import CurrencyMismatch, InvalidAmount, UnknownCurrency

# ISO 4217 code -> number of minor-unit digits, for the currencies zhifu accepts.
CURRENCIES: dict[str, int] = {
    "CNY": 2,
    "HKD": 2,
    "MOP": 2,
    "TWD": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "SGD": 2,
    "AUD": 2,
    "CAD": 2,
    "CHF": 2,
    "THB": 2,
    "MYR": 2,
    "JPY": 0,
    "KRW": 0,
}

# Amounts are stored as PostgreSQL bigint; keep every single amount well inside it so
# that sums of many amounts cannot overflow either.
MAX_AMOUNT = 10**15

_DECIMAL = re.compile(r"(0|[1-9][0-9]*)(?:\.([0-9]+))?")


def check_currency(currency: str) -> str:
    if not isinstance(currency, str) or currency not in CURRENCIES:
        raise UnknownCurrency(f"unknown currency {currency!r}", currency=str(currency)[:8])
    return currency


def _check_integer(amount: int) -> None:
    """Refuse what is not an integer count of minor units (a float, a bool, a string)."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount("amount must be an integer number of minor units")


def check_minor(amount: int, *, allow_zero: bool = False) -> int:
    """Validate an amount in minor units (a positive integer below MAX_AMOUNT)."""
    _check_integer(amount)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidAmount("amount must be positive", amount=amount)
    if amount > MAX_AMOUNT:
        raise InvalidAmount(f"amount must not exceed {MAX_AMOUNT}", amount=str(amount))
    return amount


def parse_decimal(text: str, currency: str) -> int:
    """Parse a decimal string such as "12.34" into minor units of `currency`, exactly."""
    digits = CURRENCIES[check_currency(currency)]
    match = _DECIMAL.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidAmount(f"{text!r} is not a positive decimal amount", amount=str(text)[:40])
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > digits:
        raise InvalidAmount(
            f"{text!r} has more than {digits} decimal places for {currency}",
            amount=text[:40],
        )
    if len(whole) > 16:
        raise InvalidAmount(f"{text!r} is too large", amount=text[:40])
    return check_minor(int(whole) * 10**digits + int(fraction.ljust(digits, "0") or "0"))


def format_decimal(amount: int, currency: str) -> str:
    """Format minor units as a plain decimal string: 1234 CNY -> "12.34"."""
    digits = CURRENCIES[check_currency(currency)]
    _check_integer(amount)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**digits)
    return f"{sign}{whole}.{fraction:0{digits}d}" if digits else f"{sign}{whole}"


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units of one currency. Signed: balances may be negative."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        check_currency(self.currency)
        _check_integer(self.amount)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        return cls(parse_decimal(text, currency), currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __str__(self) -> str:
        return f"{format_decimal(self.amount, self.currency)} {self.currency}"


def split_evenly(amount: int, parts: int) -> list[int]:
    """Split minor units into `parts` shares that differ by at most one and sum exactly."""
    _check_integer(amount)
    if parts <= 0:
        raise ValueError("parts must be positive")
    share, remainder = divmod(amount, parts)
    return [share + (1 if i < remainder else 0) for i in range(parts)]
