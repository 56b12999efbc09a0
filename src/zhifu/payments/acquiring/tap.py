"""Tap-to-pay: a device-bound token and a per-tap cryptogram signed with the device key.

At provisioning the wallet makes an ECDSA P-256 key pair, keeps the private key (in the
platform keystore where it has one) and registers the public key; the server stores it
with a tap token, an opaque handle for the payer's wallet on that device. At each tap
the terminal sends the tap request and the device's cryptogram to the server.

The signed message is canonical UTF-8 text (all fields ASCII), lines joined by "\\n",
no trailing newline:

    zhifu-tap/1
    token:<token>             [A-Za-z0-9._-], 1-64 characters
    terminal:<terminal_id>    [A-Za-z0-9._-], 1-64 characters
    amount:<minor units>      positive integer, no sign or leading zeros
    currency:<ISO 4217>       alphabetic code, e.g. CNY
    counter:<tap counter>     integer 0 .. 2**63-1, increasing with each tap of the token
    time:<unix seconds>       the tap's time, whole seconds (fraction dropped)

The cryptogram is the ECDSA P-256 / SHA-256 signature of that message as raw r || s
(32 bytes each, big-endian, as in JWS ES256), base64url without padding: 86 characters.

`verify_tap` refuses a cryptogram that does not verify (`invalid_cryptogram`), a tap
timestamped more than max_age ago (`cryptogram_expired`) or more than FUTURE_SKEW ahead
(`invalid_cryptogram`). Replay is the caller's to refuse: it stores (token, counter),
which `verify_tap` returns the counter of, under a unique constraint, and may also
refuse a counter not above the last one seen. ECDSA signatures are malleable ((r, s)
and (r, n - s) both verify), so never key replay protection on the cryptogram itself.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from zhifu.money import check_currency, check_minor
from zhifu.payments.errors import (
    CryptogramExpired,
    InvalidCryptogram,
    InvalidDeviceKey,
    InvalidTapRequest,
)

MESSAGE_VERSION = "zhifu-tap/1"
DEFAULT_MAX_AGE = timedelta(seconds=60)
FUTURE_SKEW = timedelta(seconds=30)
MAX_COUNTER = 2**63 - 1
SCALAR_BYTES = 32

_IDENTIFIER = re.compile(r"[A-Za-z0-9._-]{1,64}")
_CRYPTOGRAM = re.compile(r"[A-Za-z0-9_-]{86}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TapRequest:
    """What one tap asks for; the device signs it and the server checks the signature."""

    token: str
    terminal_id: str
    amount: int
    currency: str
    counter: int
    timestamp: datetime

    def __post_init__(self) -> None:
        _check_identifier("token", self.token)
        _check_identifier("terminal_id", self.terminal_id)
        check_minor(self.amount)
        check_currency(self.currency)
        _check_counter(self.counter)
        if not isinstance(self.timestamp, datetime) or self.timestamp.tzinfo is None:
            raise InvalidTapRequest("timestamp must be an aware datetime", field="timestamp")

    @property
    def unix_time(self) -> int:
        return int(self.timestamp.timestamp())


def new_tap_token() -> str:
    """A fresh opaque tap token."""
    return "tap_" + secrets.token_urlsafe(24)


def new_device_key() -> tuple[str, str]:
    """A P-256 key pair as (PKCS#8 private PEM, SubjectPublicKeyInfo public PEM)."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return private_pem.decode("ascii"), _public_pem(private_key.public_key())


def load_device_public_key(public_pem: str) -> ec.EllipticCurvePublicKey:
    """Parse a registered device public key; InvalidDeviceKey unless it is P-256."""
    try:
        key = serialization.load_pem_public_key(public_pem.encode("ascii"))
    except (ValueError, TypeError, UnicodeError, UnsupportedAlgorithm, AttributeError):
        raise InvalidDeviceKey("the device key is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise InvalidDeviceKey("the device key must be an ECDSA P-256 key")
    return key


def tap_message(request: TapRequest) -> bytes:
    """The canonical bytes a cryptogram signs (see the module docstring)."""
    lines = [
        MESSAGE_VERSION,
        f"token:{request.token}",
        f"terminal:{request.terminal_id}",
        f"amount:{request.amount}",
        f"currency:{request.currency}",
        f"counter:{request.counter}",
        f"time:{request.unix_time}",
    ]
    return "\n".join(lines).encode("utf-8")


def sign_tap(private_pem: str, request: TapRequest) -> str:
    """The device side: the cryptogram of one tap, base64url of raw r || s."""
    key = serialization.load_pem_private_key(private_pem.encode("ascii"), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the device private key must be an ECDSA key")
    r, s = decode_dss_signature(key.sign(tap_message(request), ec.ECDSA(hashes.SHA256())))
    raw = r.to_bytes(SCALAR_BYTES, "big") + s.to_bytes(SCALAR_BYTES, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def verify_tap(
    public_pem: str,
    request: TapRequest,
    cryptogram: str,
    now: datetime,
    max_age: timedelta = DEFAULT_MAX_AGE,
) -> int:
    """The server side: check a tap's cryptogram and freshness; return the counter to
    store with the token (unique) so that the tap cannot be replayed."""
    key = load_device_public_key(public_pem)
    signature = _decode_cryptogram(cryptogram)
    try:
        key.verify(signature, tap_message(request), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise InvalidCryptogram("the tap cryptogram does not match the request") from None
    _check_fresh(request, now, max_age)
    return request.counter


def _decode_cryptogram(cryptogram: object) -> bytes:
    if not isinstance(cryptogram, str) or not _CRYPTOGRAM.fullmatch(cryptogram):
        raise InvalidCryptogram("a tap cryptogram is 86 base64url characters")
    try:
        raw = base64.urlsafe_b64decode(cryptogram + "==")
    except (binascii.Error, ValueError):
        raise InvalidCryptogram("the tap cryptogram is not base64url") from None
    r = int.from_bytes(raw[:SCALAR_BYTES], "big")
    s = int.from_bytes(raw[SCALAR_BYTES:], "big")
    return encode_dss_signature(r, s)


def _check_fresh(request: TapRequest, now: datetime, max_age: timedelta) -> None:
    if now.tzinfo is None:
        raise ValueError("verify_tap needs an aware datetime")
    moment = request.unix_time
    if moment > (now + FUTURE_SKEW).timestamp():
        raise InvalidCryptogram("the tap is dated in the future", field="timestamp")
    if moment < (now - max_age).timestamp():
        raise CryptogramExpired("the tap cryptogram has expired; tap again")


def _public_pem(key: ec.EllipticCurvePublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    ).decode("ascii")


def _check_identifier(field: str, value: object) -> None:
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise InvalidTapRequest(f"{field} must be 1-64 of [A-Za-z0-9._-]", field=field)


def _check_counter(counter: object) -> None:
    if isinstance(counter, bool) or not isinstance(counter, int) or not 0 <= counter <= MAX_COUNTER:
        raise InvalidTapRequest(f"counter must be an integer from 0 to {MAX_COUNTER}")
