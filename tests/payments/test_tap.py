from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from zhifu.errors import InvalidRequest
from zhifu.payments.acquiring import tap
from zhifu.payments.errors import CryptogramExpired, InvalidCryptogram, InvalidDeviceKey

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
PRIVATE_PEM, PUBLIC_PEM = tap.new_device_key()


def tap_request(**changes: Any) -> tap.TapRequest:
    fields: dict[str, Any] = {
        "token": "tap_7Hq2xN",
        "terminal_id": "term-001",
        "amount": 2599,
        "currency": "CNY",
        "counter": 41,
        "timestamp": NOW,
        **changes,
    }
    return tap.TapRequest(**fields)


def test_valid_tap_returns_the_counter_to_store() -> None:
    request = tap_request()
    cryptogram = tap.sign_tap(PRIVATE_PEM, request)
    assert len(cryptogram) == 86
    assert tap.verify_tap(PUBLIC_PEM, request, cryptogram, NOW + timedelta(seconds=5)) == 41


def test_canonical_message() -> None:
    request = tap_request(timestamp=NOW + timedelta(microseconds=999_999))
    assert tap.tap_message(request) == (
        b"zhifu-tap/1\ntoken:tap_7Hq2xN\nterminal:term-001\namount:2599\n"
        b"currency:CNY\ncounter:41\ntime:1767268800"
    )


def test_cryptogram_verifies_as_plain_es256() -> None:
    # Other implementations (a wallet app) can check against the documented format.
    request = tap_request()
    raw = base64.urlsafe_b64decode(tap.sign_tap(PRIVATE_PEM, request) + "==")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public_key = serialization.load_pem_public_key(PUBLIC_PEM.encode())
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(der, tap.tap_message(request), ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize(
    "changes",
    [
        {"amount": 2600},
        {"terminal_id": "term-002"},
        {"token": "tap_other"},
        {"currency": "USD"},
        {"counter": 42},
        {"timestamp": NOW - timedelta(seconds=1)},
    ],
)
def test_altered_request_is_refused(changes: dict[str, Any]) -> None:
    cryptogram = tap.sign_tap(PRIVATE_PEM, tap_request())
    altered = dataclasses.replace(tap_request(), **changes)
    with pytest.raises(InvalidCryptogram) as caught:
        tap.verify_tap(PUBLIC_PEM, altered, cryptogram, NOW)
    assert caught.value.code == "invalid_cryptogram"
    assert caught.value.status == 422


def test_wrong_key_is_refused() -> None:
    request = tap_request()
    cryptogram = tap.sign_tap(PRIVATE_PEM, request)
    _, other_public = tap.new_device_key()
    with pytest.raises(InvalidCryptogram):
        tap.verify_tap(other_public, request, cryptogram, NOW)


def test_stale_tap_is_refused_as_expired() -> None:
    request = tap_request()
    cryptogram = tap.sign_tap(PRIVATE_PEM, request)
    late = NOW + timedelta(seconds=61)
    with pytest.raises(CryptogramExpired) as caught:
        tap.verify_tap(PUBLIC_PEM, request, cryptogram, late)
    assert caught.value.code == "cryptogram_expired"
    assert tap.verify_tap(PUBLIC_PEM, request, cryptogram, late, max_age=timedelta(minutes=2))


def test_tap_from_the_future_is_refused() -> None:
    request = tap_request(timestamp=NOW + timedelta(minutes=5))
    cryptogram = tap.sign_tap(PRIVATE_PEM, request)
    with pytest.raises(InvalidCryptogram) as caught:
        tap.verify_tap(PUBLIC_PEM, request, cryptogram, NOW)
    assert not isinstance(caught.value, CryptogramExpired)
    assert tap.verify_tap(PUBLIC_PEM, tap_request(), tap.sign_tap(PRIVATE_PEM, tap_request()), NOW)


@pytest.mark.parametrize(
    "cryptogram",
    [
        "",
        "not base64!",
        "A" * 85,
        "A" * 87,
        "A" * 86,  # r = s = 0
        "/" * 86,  # standard base64 alphabet, not base64url
        "A" * 84 + "==",
        None,
        b"A" * 86,
    ],
)
def test_garbage_cryptogram_is_refused(cryptogram: Any) -> None:
    with pytest.raises(InvalidCryptogram):
        tap.verify_tap(PUBLIC_PEM, tap_request(), cryptogram, NOW)


def test_other_requests_cryptogram_is_refused() -> None:
    other = tap.sign_tap(PRIVATE_PEM, tap_request(counter=40))
    with pytest.raises(InvalidCryptogram):
        tap.verify_tap(PUBLIC_PEM, tap_request(), other, NOW)


def _rsa_public_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _p384_public_pem() -> str:
    key = ec.generate_private_key(ec.SECP384R1())
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.mark.parametrize("make_pem", [lambda: "garbage", lambda: PRIVATE_PEM, _rsa_public_pem])
def test_bad_device_keys_are_refused(make_pem: Any) -> None:
    with pytest.raises(InvalidDeviceKey):
        tap.load_device_public_key(make_pem())


def test_p384_device_key_is_refused() -> None:
    with pytest.raises(InvalidDeviceKey) as caught:
        tap.verify_tap(_p384_public_pem(), tap_request(), "A" * 86, NOW)
    assert caught.value.code == "invalid_device_key"


@pytest.mark.parametrize(
    "changes",
    [
        {"token": ""},
        {"token": "tap\nterminal:x"},  # would forge a line of the signed message
        {"terminal_id": "t" * 65},
        {"amount": 0},
        {"amount": 12.5},
        {"currency": "XYZ"},
        {"counter": -1},
        {"counter": 2**63},
        {"counter": True},
        {"timestamp": datetime(2026, 1, 1)},  # naive
    ],
)
def test_invalid_tap_requests_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        tap_request(**changes)


def test_new_tap_token_is_a_valid_token() -> None:
    token = tap.new_tap_token()
    assert token.startswith("tap_") and token != tap.new_tap_token()
    assert tap_request(token=token).token == token
