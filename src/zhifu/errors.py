"""One error model: every domain error has a stable code, a message and an HTTP status.

The REST API renders these as RFC 9457 problem+json; later the Alipay gateway maps the
same codes onto its code/sub_code pairs. Nothing else should reach a client.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ZhifuError(Exception):
    """Base of every error a client may see. Subclasses fix `code` and `status`."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, message: str, *, account_id: int | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        # The internal ledger account a refusal is about: for the code that called the
        # ledger, never part of what a client sees (which is `message` and `details`).
        self.account_id = account_id

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


class InvalidRequest(ZhifuError):
    code = "invalid_request"
    status = 422
    title = "Invalid request"


class InvalidAmount(InvalidRequest):
    code = "invalid_amount"
    title = "Invalid amount"


class UnknownCurrency(InvalidRequest):
    code = "unknown_currency"
    title = "Unknown currency"


class CurrencyMismatch(InvalidRequest):
    code = "currency_mismatch"
    title = "Currency mismatch"


class SandboxMismatch(InvalidRequest):
    code = "sandbox_mismatch"
    title = "Live and sandbox money do not mix"


class NotFound(ZhifuError):
    code = "not_found"
    status = 404
    title = "Not found"


class Unauthorized(ZhifuError):
    code = "unauthorized"
    status = 401
    title = "Unauthorized"


class Forbidden(ZhifuError):
    code = "forbidden"
    status = 403
    title = "Forbidden"


class Conflict(ZhifuError):
    code = "conflict"
    status = 409
    title = "Conflict"


class IdempotencyConflict(Conflict):
    code = "idempotency_key_reused"
    title = "Idempotency key reused with a different request"


class IdempotencyKeyRequired(InvalidRequest):
    code = "idempotency_key_required"
    status = 400
    title = "Idempotency-Key header required"


class InvalidStateTransition(Conflict):
    code = "invalid_state_transition"
    title = "Invalid state transition"


class InsufficientFunds(ZhifuError):
    code = "insufficient_funds"
    status = 402
    title = "Insufficient funds"


class BalanceCapExceeded(ZhifuError):
    code = "balance_cap_exceeded"
    status = 422
    title = "Balance cap exceeded"


class LimitExceeded(ZhifuError):
    code = "limit_exceeded"
    status = 422
    title = "Limit exceeded"


class Locked(ZhifuError):
    code = "locked"
    status = 423
    title = "Locked"


class ServiceUnavailable(ZhifuError):
    code = "service_unavailable"
    status = 503
    title = "Service unavailable"


class HoldExpired(InvalidStateTransition):
    code = "hold_expired"
    title = "Hold expired"


# Identity: users, sessions, payment PINs, linked cards.


class InvalidPhone(InvalidRequest):
    code = "invalid_phone"
    title = "Invalid phone number"


class WeakPassword(InvalidRequest):
    code = "weak_password"
    title = "Password too weak"


class InvalidPin(InvalidRequest):
    code = "invalid_pin"
    title = "Invalid payment PIN"


class PhoneTaken(Conflict):
    code = "phone_taken"
    title = "Phone number already registered"


class PinNotSet(Forbidden):
    code = "pin_not_set"
    title = "Payment PIN not set"


class CurrentPinRequired(Forbidden):
    code = "current_pin_required"
    title = "Current payment PIN required"


class IncorrectPin(Forbidden):
    code = "incorrect_pin"
    title = "Incorrect payment PIN"


class PinLocked(Locked):
    code = "pin_locked"
    title = "Payment PIN locked"


class InvalidCardNumber(InvalidRequest):
    code = "invalid_card_number"
    title = "Invalid card or account number"


class CardAlreadyLinked(Conflict):
    code = "card_already_linked"
    title = "Card already linked"


# Transfers between users.


class SelfTransfer(InvalidRequest):
    code = "self_transfer"
    title = "Transfer to oneself"


class RecipientNotFound(NotFound):
    code = "recipient_not_found"
    title = "Recipient not found"


# Funding: top-ups and withdrawals through a bank.


class CardUnlinked(Conflict):
    code = "card_unlinked"
    title = "Card or account no longer linked"


class RateLimited(ZhifuError):
    """Too many failed tries from one client, merchant or terminal: `retry_after` seconds."""

    code = "rate_limited"
    status = 429
    title = "Too many failed attempts"


class SignInLocked(Locked):
    code = "login_locked"
    title = "Sign-in locked"


# Input refused at the edge, whatever the endpoint (zhifu.inputs says what is refused).


class InvalidCharacters(InvalidRequest):
    code = "invalid_characters"
    status = 400
    title = "Invalid characters"


class JsonTooDeep(InvalidRequest):
    code = "json_too_deep"
    status = 400
    title = "JSON nested too deep"


class MalformedJson(InvalidRequest):
    code = "malformed_json"
    status = 400
    title = "Malformed JSON"


class PayloadTooLarge(InvalidRequest):
    code = "payload_too_large"
    status = 413
    title = "Content too large"


class InvalidSetting(ZhifuError):
    """A ZHIFU_* variable whose value does not fit: the operator's to fix, before start."""

    code = "invalid_setting"
    title = "Invalid setting"
