"""Webhook signatures, in the Stripe style.

    Zhifu-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

The timestamp is signed with the body, so a captured request cannot be replayed after the
tolerance window. A header may carry several v1 values (one per secret while a secret is
being rotated); any one matching is enough.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from zhifu.errors import Unauthorized

SIGNATURE_HEADER = "Zhifu-Signature"
DEFAULT_TOLERANCE = 300


class InvalidSignature(Unauthorized):
    code = "invalid_signature"
    title = "Invalid webhook signature"


def compute_signature(secret: str, timestamp: int, raw_body: bytes) -> str:
    signed = f"{timestamp}.".encode() + raw_body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, raw_body: bytes, now: datetime) -> str:
    timestamp = int(now.timestamp())
    return f"t={timestamp},v1={compute_signature(secret, timestamp, raw_body)}"


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InvalidSignature("the signature header has no timestamp or no v1 signature")
    return timestamp, signatures


def verify_signature(
    secret: str,
    header: str,
    raw_body: bytes | str,
    now: datetime,
    tolerance: int = DEFAULT_TOLERANCE,
) -> int:
    """Check a webhook's signature header against the raw body; return its timestamp.

    Raises InvalidSignature when the header is malformed, no signature matches, or the
    timestamp is more than `tolerance` seconds away from `now`.
    """
    body = raw_body.encode() if isinstance(raw_body, str) else raw_body
    timestamp, signatures = _parse(header)
    expected = compute_signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise InvalidSignature("no signature matches the body")
    if abs(now.timestamp() - timestamp) > tolerance:
        raise InvalidSignature("the signature timestamp is outside the tolerance window")
    return timestamp
