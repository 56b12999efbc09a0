"""Card and bank-account numbers: validation, brand from the IIN, keyed fingerprints.

Pure functions over the number; nothing here stores or logs it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from zhifu.errors import InvalidCardNumber

CARD_LENGTHS = range(13, 20)
_SEPARATORS = re.compile(r"[\s\-]")
_ACCOUNT = re.compile(r"[A-Z0-9]{8,34}")

# (first digits low, high, brand), checked in order: the first range holding the number's
# prefix of the same length names its brand.
_IIN_RANGES: tuple[tuple[str, str, str], ...] = (
    ("34", "34", "amex"),
    ("37", "37", "amex"),
    ("62", "62", "unionpay"),
    ("81", "81", "unionpay"),
    ("3528", "3589", "jcb"),
    ("300", "305", "diners"),
    ("36", "36", "diners"),
    ("38", "39", "diners"),
    ("6011", "6011", "discover"),
    ("644", "649", "discover"),
    ("65", "65", "discover"),
    ("2221", "2720", "mastercard"),
    ("51", "55", "mastercard"),
    ("4", "4", "visa"),
    ("50", "50", "maestro"),
    ("56", "58", "maestro"),
    ("63", "63", "maestro"),
    ("67", "67", "maestro"),
)


@dataclass(frozen=True, slots=True)
class CheckedNumber:
    """A validated number, reduced to what may be kept: never the number itself."""

    kind: str
    last4: str
    brand: str
    fingerprint: str


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_brand(digits: str) -> str:
    for low, high, brand in _IIN_RANGES:
        if low <= digits[: len(low)] <= high:
            return brand
    return "other"


def fingerprint(secret: bytes, kind: str, number: str) -> str:
    """HMAC-SHA256 of the number under the tokenizer secret: equal numbers match, and
    without the secret the fingerprint cannot be brute-forced back to a number."""
    return hmac.new(secret, f"{kind}:{number}".encode(), hashlib.sha256).hexdigest()


def _card_digits(number: str) -> str:
    digits = _SEPARATORS.sub("", number)
    if not digits.isascii() or not digits.isdigit():
        raise InvalidCardNumber("a card number has digits only")
    if len(digits) not in CARD_LENGTHS:
        raise InvalidCardNumber(
            f"a card number has {CARD_LENGTHS.start} to {CARD_LENGTHS.stop - 1} digits"
        )
    if not luhn_valid(digits):
        raise InvalidCardNumber("this card number is mistyped (its check digit is wrong)")
    return digits


def _account_number(number: str) -> str:
    compact = _SEPARATORS.sub("", number).upper()
    if not _ACCOUNT.fullmatch(compact):
        raise InvalidCardNumber("an account number has 8 to 34 letters and digits")
    return compact


def check_number(secret: bytes, kind: str, number: str) -> CheckedNumber:
    """Validate a card ('card') or bank account ('account') number."""
    if not isinstance(number, str):
        raise InvalidCardNumber("the number must be a string")
    if kind == "card":
        digits = _card_digits(number)
        brand = card_brand(digits)
    elif kind == "account":
        digits = _account_number(number)
        brand = "bank_account"
    else:
        raise InvalidCardNumber("kind is 'card' or 'account'")
    return CheckedNumber(kind, digits[-4:], brand, fingerprint(secret, kind, digits))
