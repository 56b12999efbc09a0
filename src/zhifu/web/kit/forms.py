"""Reading what people type into forms, and telling them in their language what was wrong.

Field errors are a dict {field name: message}; templates show each next to its input
(layout/_forms.html) and list them all at the top. A refusal by a service (a ZhifuError)
becomes a message by its stable code, placed at the field it concerns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from zhifu.clock import BUSINESS_TIMEZONE
from zhifu.errors import ZhifuError
from zhifu.money import CURRENCIES, parse_decimal
from zhifu.payments.card_pay import FundingSource
from zhifu.web.kit.i18n import N_

Errors = dict[str, str]
Gettext = Callable[[str], str]

# Where a refusal is shown when the form does not say otherwise.
FIELD_OF_ERROR = {
    "invalid_amount": "amount",
    "insufficient_funds": "amount",
    "limit_exceeded": "amount",
    "balance_cap_exceeded": "amount",
    "incorrect_pin": "pin",
    "invalid_pin": "pin",
    "pin_locked": "pin",
    "pin_required": "pin",
    "pin_not_set": "pin",
    "current_pin_required": "pin",
    "invalid_phone": "phone",
    "phone_taken": "phone",
    "recipient_not_found": "phone",
    "self_transfer": "phone",
    "weak_password": "password",
    "invalid_card_number": "number",
    "card_already_linked": "number",
    "card_unlinked": "card",
    "card_declined": "card",
    "invalid_qr": "payload",
}

# What each refusal says to the person at the page; {placeholders} come from its details.
MESSAGES = {
    "invalid_amount": N_("Enter an amount such as 12.50."),
    "insufficient_funds": N_("Your balance is too low for this."),
    "limit_exceeded": N_("This is over the limit of your account for one payment or for today."),
    "balance_cap_exceeded": N_("The wallet receiving this cannot hold that much."),
    "incorrect_pin": N_("Incorrect payment PIN. {attempts_left} tries left before it locks."),
    "invalid_pin": N_("Choose 6 digits that are not all the same and not a run like 123456."),
    "pin_locked": N_("Too many wrong PINs: your payment PIN is locked until {until}."),
    "pin_required": N_("Enter your payment PIN to pay this amount."),
    "pin_not_set": N_("Set a payment PIN first."),
    "invalid_phone": N_("Enter an 11-digit mobile number, or an international number with +."),
    "phone_taken": N_("This phone number already has a zhifu account. Sign in instead."),
    "recipient_not_found": N_("Nobody with this phone number uses zhifu."),
    "self_transfer": N_("You cannot send money to yourself."),
    "weak_password": N_("A password has 8 to 128 characters."),
    "invalid_card_number": N_("Check the number: it is not a valid card or account number."),
    "card_already_linked": N_("This card is already linked."),
    "card_unlinked": N_("This card is no longer linked. Choose another."),
    "card_declined": N_("Your bank declined the card. Choose another."),
    "invalid_qr": N_("This is not a zhifu payment code we can read."),
    "trade_not_found": N_("This payment does not exist, or it is not yours."),
    "trade_expired": N_("This payment has expired. Ask the shop for a new code."),
    "trade_already_paid": N_("This payment has already been paid."),
    "trade_closed": N_("This payment is closed."),
    "payment_codes_exhausted": N_("Six codes were used this minute. Wait for the next minute."),
    "invalid_state_transition": N_("This cannot be done at this stage of the order."),
    "not_found": N_("Not found, or not yours."),
    "service_unavailable": N_("zhifu is busy. Try again in a moment."),
    # The merchant portal.
    "login_locked": N_("Too many wrong passwords: sign-in is locked until {until}."),
    "rate_limited": N_("Too many failed attempts from here. Try again in a few minutes."),
    "refund_exceeds_paid": N_("This is more than is left to refund."),
    "trade_not_refundable": N_("This trade cannot be refunded now."),
    "merchant_insufficient_funds": N_("Your balance cannot cover this refund."),
    "refund_exists": N_("This refund was already made with another amount."),
    "idempotency_key_reused": N_("This form was already used for something else. Start again."),
    "unknown_event_type": N_("Choose events from the list."),
}
GENERIC = N_("This could not be done. Try again, or contact support.")


def error_message(error: ZhifuError, gettext: Gettext) -> str:
    """A refusal in words for the person at the page, in their language."""
    template = MESSAGES.get(error.code)
    if template is None:
        return gettext(GENERIC)
    details = dict(error.details)
    if "until" in details:
        until = datetime.fromisoformat(str(details["until"])).astimezone(BUSINESS_TIMEZONE)
        details["until"] = until.strftime("%H:%M")
    try:
        return gettext(template).format(**details)
    except (KeyError, IndexError, ValueError):
        return gettext(template).split("{", 1)[0].strip()


def refusal(
    error: ZhifuError,
    gettext: Gettext,
    fields: Mapping[str, str] | None = None,
    default: str = "form",
) -> Errors:
    """{field: message} for a service's refusal; `fields` overrides where codes go."""
    field = (fields or {}).get(error.code) or FIELD_OF_ERROR.get(error.code, default)
    return {field: error_message(error, gettext)}


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
