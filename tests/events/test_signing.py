from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from zhifu.events import InvalidSignature, signature_header, verify_signature
from zhifu.events.signing import compute_signature

SECRET = "whsec_0123456789abcdef"
BODY = b'{"id":"evt_1","type":"trade.paid","sequence":1,"data":{}}'
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_signed_body_verifies() -> None:
    header = signature_header(SECRET, BODY, NOW)
    assert header.startswith(f"t={int(NOW.timestamp())},v1=")
    assert verify_signature(SECRET, header, BODY, NOW) == int(NOW.timestamp())
    assert verify_signature(SECRET, header, BODY.decode(), NOW + timedelta(seconds=300))


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), b"1767225600." + BODY, hashlib.sha256).hexdigest()
    assert compute_signature(SECRET, 1767225600, BODY) == expected


@pytest.mark.parametrize(
    ("secret", "body", "moment"),
    [
        ("whsec_another_secret_value", BODY, NOW),  # wrong secret
        (SECRET, BODY.replace(b"trade.paid", b"trade.void"), NOW),  # tampered body
        (SECRET, BODY, NOW + timedelta(seconds=301)),  # replayed too late
        (SECRET, BODY, NOW - timedelta(seconds=301)),  # from the future
    ],
)
def test_a_wrong_or_stale_signature_is_refused(secret: str, body: bytes, moment: datetime) -> None:
    header = signature_header(SECRET, BODY, NOW)
    with pytest.raises(InvalidSignature):
        verify_signature(secret, header, body, moment)


@pytest.mark.parametrize("header", ["", "v1=abc", "t=1767225600", "t=soon,v1=abc", "garbage"])
def test_a_malformed_header_is_refused(header: str) -> None:
    with pytest.raises(InvalidSignature):
        verify_signature(SECRET, header, BODY, NOW)


def test_any_matching_signature_is_enough_while_rotating_secrets() -> None:
    old = signature_header("whsec_old_secret_value_1", BODY, NOW)
    new = signature_header(SECRET, BODY, NOW).split(",")[1]
    assert verify_signature(SECRET, f"{old},{new}", BODY, NOW)
