"""Reading what people type into forms, and telling them in their language what was wrong.

Field errors are a dict {field name: message}; templates show each next to its input
(layout/_forms.html) and list them all at the top. A refusal by a service (a ZhifuError)
is worded by the catalogue of error texts, zhifu.web.kit.errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from zhifu.errors import ZhifuError
from zhifu.money import CURRENCIES, parse_decimal
from zhifu.payments import FundingSource
from zhifu.web.kit.errors import Errors, Gettext
from zhifu.web.kit.i18n import N_


def parse_amount(text: str, currency: str, gettext: Gettext) -> tuple[int | None, Errors]:
    """An amount as a person types it ("12.5", "1,234.00", "¥ 20") in minor units, exactly:
    never through a float. Too many decimals, signs and exponents are errors."""
    compact = text.strip().lstrip("¥￥").strip().replace(",", "").replace("，", "")
    if not compact:
        return None, {"amount": gettext("Enter an amount.")}
    try:
        return parse_decimal(compact, currency), {}
    except ZhifuError:
        digits = CURRENCIES.get(currency, 2)
        if digits:
            message = gettext("Enter an amount such as 12.50, with at most two decimals.")
        else:
            message = gettext("Enter a whole amount such as 1200.")
        return None, {"amount": message}


_PIN = re.compile(r"[0-9]{6}")
_CARD_SOURCE = re.compile(r"card:([1-9][0-9]{0,17})")


@dataclass(frozen=True)
class PayForm:
    """A payment form as submitted (where the money comes from, the PIN) and what was
    wrong with it. Messages are English message ids: translate them to show them."""

    source: str = ""
    pin: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def funding(self) -> FundingSource:
        return "wallet" if self.source == "wallet" else "card"

    @property
    def card_id(self) -> int | None:
        match = _CARD_SOURCE.fullmatch(self.source)
        return int(match.group(1)) if match else None

    @classmethod
    def parse(cls, source: str, pin: str) -> PayForm:
        errors = {}
        if source != "wallet" and _CARD_SOURCE.fullmatch(source) is None:
            errors["source"] = N_("Choose your wallet balance or one of your cards.")
        if pin and _PIN.fullmatch(pin) is None:
            errors["pin"] = N_("Your payment PIN is 6 digits.")
        return cls(source=source, pin=pin, errors=errors)


def required(value: str, field: str, message: str, errors: Errors) -> str:
    """The trimmed value; records `message` for `field` when it is empty."""
    value = value.strip()
    if not value:
        errors[field] = message
    return value
