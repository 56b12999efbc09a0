"""The consumer's one-time payment code: 18 digits the wallet shows and the merchant scans.

The wallet computes codes offline from a per-device secret it shares with the server
and the time; the server recomputes them. Layout (18 ASCII digits):

    PP DDDDDDDDDD OOOOOO
    PP      25 + slot, slot 0-5 (so every code starts 25-30, as Alipay's do)
    D x 10  the masked device number: (device_number + mask) mod 10**10, where
            mask = first 8 bytes of SHA-256("zhifu-paycode-mask:" PP OOOOOO), as a
            big-endian integer, mod 10**10
    O x 6   HOTP (RFC 4226) with HMAC-SHA256 over the counter, dynamic truncation,
            mod 10**6, zero-padded, where
            counter = step * 6 + slot and step = floor(unix_seconds / 60)  (RFC 6238)
            and the HOTP key is the device key
            HMAC-SHA256(secret, "zhifu-paycode-device:" + device_number as 8 bytes
            big-endian), so the OTP also authenticates the device digits

Identify: the server reads PP and OOOOOO, removes the mask and has the device number
(< 10**10) without trying every device, then loads that device's secret and verifies.
The mask is not encryption (anyone who knows this layout can remove it): it keeps the
device number from being read off the code, and makes successive codes of one device
look unrelated. Forging a code still needs the secret. Device numbers should therefore
be pseudonymous handles, not account ids.

Validity: a code is accepted in its own step and in the next one, so for 60 to 120
seconds; also a code from the next step while the server's clock is within CLOCK_SKEW of
it (a device clock running slightly fast). A code a few steps older is refused as
expired, anything else as invalid.

Once only: `verify` returns the counter; the caller stores (device_number, counter)
under a unique constraint and refuses a second use. The slot lets a device show up to
six fresh codes within one minute: the wallet moves to the next slot after each payment
or when the payer refreshes the code.

Guessing: 6 OTP digits against at most 3 accepted counters gives a random code about a
3-in-a-million chance, and the scanning side limits failed lookups (zhifu.db.throttle):
TERMINAL_GUESSES per terminal and MERCHANT_GUESSES per merchant in a window; past
either, every code from there is refused (`rate_limited`) until the window ends.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from zhifu.db.throttle import RateLimit
from zhifu.payments.errors import InvalidPaymentCode, PaymentCodeExpired

CODE_LENGTH = 18
FIRST_PREFIX = 25
SLOTS = 6
DEVICE_DIGITS = 10
DEVICE_NUMBER_LIMIT: int = 10**DEVICE_DIGITS
OTP_DIGITS = 6
STEP_SECONDS = 60
CLOCK_SKEW = timedelta(seconds=10)
EXPIRED_LOOKBACK_STEPS = 10
SECRET_BYTES = 32
MIN_SECRET_BYTES = 16

GUESS_WINDOW = timedelta(minutes=10)
_TOO_MANY = "too many invalid payment codes: scanning is paused, try again later"
MERCHANT_GUESSES = RateLimit("paycode_merchant", limit=50, window=GUESS_WINDOW, refusal=_TOO_MANY)
TERMINAL_GUESSES = RateLimit("paycode_terminal", limit=10, window=GUESS_WINDOW, refusal=_TOO_MANY)

_CODE = re.compile(r"(2[5-9]|30)([0-9]{10})([0-9]{6})")
_MASK_LABEL = b"zhifu-paycode-mask:"
_DEVICE_LABEL = b"zhifu-paycode-device:"


def new_device_secret() -> bytes:
    """A fresh 256-bit device secret, to store on the server and provision to the wallet."""
    return secrets.token_bytes(SECRET_BYTES)


def generate(device_number: int, secret: bytes, now: datetime, *, slot: int = 0) -> str:
    """The code a device shows at `now` (slot 0-5 picks one of its codes for this step)."""
    _check_device_number(device_number)
    _check_slot(slot)
    prefix = str(FIRST_PREFIX + slot)
    otp = hotp(_device_key(secret, device_number), step(now) * SLOTS + slot)
    device_field = (device_number + _mask(prefix, otp)) % DEVICE_NUMBER_LIMIT
    return f"{prefix}{device_field:0{DEVICE_DIGITS}d}{otp}"


def identify(code: str) -> int:
    """The device number a code claims, to look up its secret; InvalidPaymentCode if
    the code is not one at all."""
    prefix, device_field, otp = _split(code)
    return (int(device_field) - _mask(prefix, otp)) % DEVICE_NUMBER_LIMIT


def verify(code: str, secret: bytes, now: datetime) -> int:
    """Check a code against its device's secret; return the counter to store with the
    device number so that the code cannot be used twice."""
    prefix, _, otp = _split(code)
    slot = int(prefix) - FIRST_PREFIX
    key = _device_key(secret, identify(code))
    current = step(now)
    for candidate in _accepted_steps(now):
        if _matches(key, candidate * SLOTS + slot, otp):
            return candidate * SLOTS + slot
    for older in range(current - EXPIRED_LOOKBACK_STEPS, current - 1):
        if _matches(key, older * SLOTS + slot, otp):
            raise PaymentCodeExpired("the payment code has expired; ask for a fresh one")
    raise InvalidPaymentCode("the payment code is not valid")


def step(now: datetime) -> int:
    """The RFC 6238 time step of a moment: floor(unix_seconds / 60)."""
    if now.tzinfo is None:
        raise ValueError("payment codes need an aware datetime")
    return int(now.timestamp()) // STEP_SECONDS


def hotp(secret: bytes, counter: int, digits: int = OTP_DIGITS) -> str:
    """RFC 4226 HOTP with HMAC-SHA256 (the RFC 6238 SHA-256 variant), zero-padded."""
    digest = hmac.new(secret, counter.to_bytes(8, "big"), hashlib.sha256).digest()
    offset = digest[-1] & 0x0F
    value = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{value % 10**digits:0{digits}d}"


def _accepted_steps(now: datetime) -> list[int]:
    current = step(now)
    ahead = step(now + CLOCK_SKEW)
    return sorted({current, current - 1, ahead}, reverse=True)


def _device_key(secret: bytes, device_number: int) -> bytes:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"a device secret has at least {MIN_SECRET_BYTES} bytes")
    message = _DEVICE_LABEL + device_number.to_bytes(8, "big")
    return hmac.new(secret, message, hashlib.sha256).digest()


def _matches(key: bytes, counter: int, otp: str) -> bool:
    return counter >= 0 and hmac.compare_digest(hotp(key, counter), otp)


def _split(code: object) -> tuple[str, str, str]:
    match = _CODE.fullmatch(code) if isinstance(code, str) else None
    if match is None:
        raise InvalidPaymentCode(f"a payment code is {CODE_LENGTH} digits starting 25-30")
    prefix, device_field, otp = match.groups()
    return prefix, device_field, otp


def _mask(prefix: str, otp: str) -> int:
    digest = hashlib.sha256(_MASK_LABEL + prefix.encode() + otp.encode()).digest()
    return int.from_bytes(digest[:8], "big") % DEVICE_NUMBER_LIMIT


def _check_device_number(device_number: int) -> None:
    valid = isinstance(device_number, int) and not isinstance(device_number, bool)
    if not valid or not 0 <= device_number < DEVICE_NUMBER_LIMIT:
        raise ValueError(f"a device number is an integer from 0 to {DEVICE_NUMBER_LIMIT - 1}")


def _check_slot(slot: int) -> None:
    if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < SLOTS:
        raise ValueError(f"a slot is an integer from 0 to {SLOTS - 1}")
