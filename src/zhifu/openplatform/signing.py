"""Alipay's request and response signatures (RSA2 = SHA256withRSA, RSA = SHA1withRSA).

A request is signed over its canonical string: every received parameter except `sign`,
empty values dropped, sorted by key, joined as `key=value` with `&`, using the raw
url-decoded values (never re-serialised: `biz_content` is verified as received).
`sign_type` is part of a request's canonical string; only notifications leave it out.
A response is signed over the exact bytes of its `*_response` JSON node.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from zhifu.errors import InvalidRequest
from zhifu.openplatform import charsets

SignType = Literal["RSA2", "RSA"]
SIGN_TYPES: tuple[SignType, ...] = ("RSA2", "RSA")
MIN_KEY_BITS = 2048


class InvalidKey(InvalidRequest):
    code = "invalid_public_key"
    title = "Invalid RSA public key"


def _hash(sign_type: SignType) -> hashes.HashAlgorithm:
    return hashes.SHA256() if sign_type == "RSA2" else hashes.SHA1()


def canonical_string(params: Mapping[str, str], *, exclude: tuple[str, ...] = ("sign",)) -> str:
    """The text a request (or, excluding sign_type too, a notification) is signed over."""
    kept = sorted((key, value) for key, value in params.items() if key not in exclude and value)
    return "&".join(f"{key}={value}" for key, value in kept)


def sign(data: bytes, private_key: rsa.RSAPrivateKey, sign_type: SignType = "RSA2") -> str:
    signature = private_key.sign(data, padding.PKCS1v15(), _hash(sign_type))
    return base64.b64encode(signature).decode("ascii")


def verify(data: bytes, signature: str, public_key: rsa.RSAPublicKey, sign_type: SignType) -> bool:
    """Whether `signature` (base64) signs `data` with the key's private half."""
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, data, padding.PKCS1v15(), _hash(sign_type))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def verify_request(params: Mapping[str, str], public_key: rsa.RSAPublicKey) -> bool:
    """Check a gateway request's `sign` with its `sign_type` over its canonical string,
    encoded in the request's charset (utf-8, GBK or GB2312) as the client signed it."""
    sign_type = params.get("sign_type")
    if sign_type not in SIGN_TYPES:
        return False
    try:
        data = canonical_string(params).encode(charsets.answer_codec(params.get("charset")))
    except UnicodeEncodeError:  # text the charset cannot hold was never signed in it
        return False
    return verify(data, params.get("sign", ""), public_key, sign_type)


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """An RSA public key of 2048 bits or more, PEM in SPKI (`BEGIN PUBLIC KEY`) or PKCS#1
    (`BEGIN RSA PUBLIC KEY`) form, or the bare base64 body of an SPKI key as Alipay's
    key tool hands it out."""
    pem = text.strip()
    if not pem.startswith("-----BEGIN"):
        pem = f"-----BEGIN PUBLIC KEY-----\n{pem}\n-----END PUBLIC KEY-----"
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise InvalidKey("not a PEM RSA public key (PKCS#1 or SPKI)") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidKey("the key is not an RSA key")
    if key.key_size < MIN_KEY_BITS:
        raise InvalidKey(f"the key has {key.key_size} bits; at least {MIN_KEY_BITS} are needed")
    return key


def public_pem(key: rsa.RSAPublicKey) -> str:
    """SPKI PEM: the form both SDKs load as the "alipay public key"."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def pem_body(pem: str) -> str:
    """The base64 body of a PEM, without its BEGIN/END lines (Alipay's console form)."""
    return "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))
