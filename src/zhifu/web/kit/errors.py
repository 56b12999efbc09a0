"""The web apps' one catalogue of error texts: a service's refusal (a ZhifuError, by its
stable code) in words for the person at the page, in their language, and the field of
the form it is shown at.

Texts are English message ids, translated by the visitor's catalog; {placeholders} come
from the error's details ("until" is shown as a time in Asia/Shanghai). A page may place
a code at another field (`refusal`'s `fields`); it never words it differently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from zhifu.clock import BUSINESS_TIMEZONE
from zhifu.errors import ZhifuError
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


# Where a refusal to pay is shown on a payment's page (its fields: source, pin).
PAY_FIELDS = {
    "incorrect_pin": "pin", "invalid_pin": "pin", "pin_locked": "pin", "pin_required": "pin",
    "pin_not_set": "pin",
} | {
    code: "source"
    for code in ("insufficient_funds", "card_declined", "card_unlinked", "not_found",
                 "balance_cap_exceeded", "card_payment_in_progress", "card_charged_to_wallet")
}  # fmt: skip

# Where refusals of a refund are shown on the trade's refund form.
REFUND_FIELDS = {
    "refund_exceeds_paid": "amount",
    "merchant_insufficient_funds": "amount",
    "trade_not_refundable": "form",
    "refund_exists": "form",
    "idempotency_key_reused": "form",
}

# Why a picture of a QR code could not be read (an invalid_qr's "reason").
PICTURE_PROBLEMS = {
    "not_an_image": N_("This file is not a picture we can read."),
    "no_qr_code": N_("No QR code found in the picture. Try a sharper photo, or paste the text."),
    "image_too_large": N_("The picture is too large: 5 MB at most."),
}

# The hosted checkout's words: English only so far (its pages are not translated), and
# only these codes; any other refusal is told in the error's own message.
CHECKOUT = {
    code: MESSAGES[code]
    for code in ("incorrect_pin", "pin_locked", "login_locked", "rate_limited", "pin_required")
} | {
    "pin_not_set": "Set a payment PIN in the zhifu app first.",
    "insufficient_funds": "Your wallet balance is too low for this payment. Choose a card.",
    "card_declined": "Your bank declined the card ({decline_reason}). Choose another.",
    "not_found": "Choose one of your linked cards.",
    "card_unlinked": "Choose one of your linked cards.",
}


def sentence(message: str) -> str:
    """An error's own message as a sentence: "card declined" -> "Card declined."."""
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def error_message(
    error: ZhifuError,
    gettext: Gettext,
    catalogue: Mapping[str, str] = MESSAGES,
    *,
    own_words: bool = False,
) -> str:
    """A refusal in words for the person at the page, in their language. A code the
    catalogue lacks gets the generic text, or with `own_words` the error's message."""
    template = catalogue.get(error.code)
    if template is None:
        return sentence(error.message) if own_words else gettext(GENERIC)
    details = dict(error.details)
    if "until" in details:
        until = datetime.fromisoformat(str(details["until"])).astimezone(BUSINESS_TIMEZONE)
        details["until"] = until.strftime("%H:%M")
    details["decline_reason"] = str(details.get("decline_reason") or "declined").replace("_", " ")
    try:
        return gettext(template).format(**details)
    except (KeyError, IndexError, ValueError):
        return gettext(template).split("{", 1)[0].strip()


def picture_problem(error: ZhifuError, gettext: Gettext) -> str:
    """Why an uploaded picture gave no code, or the refusal's own text."""
    problem = PICTURE_PROBLEMS.get(str(error.details.get("reason")))
    return gettext(problem) if problem else error_message(error, gettext)


def refusal(
    error: ZhifuError,
    gettext: Gettext,
    fields: Mapping[str, str] | None = None,
    default: str = "form",
) -> Errors:
    """{field: message} for a service's refusal; `fields` overrides where codes go."""
    field = (fields or {}).get(error.code) or FIELD_OF_ERROR.get(error.code, default)
    return {field: error_message(error, gettext)}
