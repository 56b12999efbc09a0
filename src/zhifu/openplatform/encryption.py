"""Alipay's content encryption (`encrypt_type=AES`): an app's `biz_content`, and zhifu's
answer to it, encrypted with the app's AES key.

As Ant's SDKs do it (the Python SDK's EncryptUtils, the Node SDK's aes.ts): the key is
16 or 32 random bytes handed out as base64; AES-CBC with an all-zero IV, PKCS#5 (PKCS#7)
padding, the ciphertext in base64. The plaintext is the JSON text in the request's
charset. A request's signature covers the ciphertext as sent; an answer's node is the
ciphertext as a JSON string, and its signature covers that string, quotes included.

`AppAesKeys` keeps each app's key. `zhifu app aes-key APP` makes one (a new one replaces
the old: the merchant must configure it at once). With ZHIFU_KEY_PASSPHRASE a key is
sealed at rest (AES-GCM under a key derived from the passphrase with scrypt); a key
found in clear is sealed on its next use. Unsealing is slow on purpose, so each process
keeps what it unsealed, keyed by the stored text: a replaced key is read afresh.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from zhifu.clock import Clock
from zhifu.db.database import Database
from zhifu.openplatform.keys import KeyPassphraseError

ENCRYPT_TYPE = "AES"
AES_KEY_BYTES = 16  # what Alipay's console hands out; 32-byte keys are read too
_ZERO_IV = bytes(16)
_SEALED = "sealed:v1:"
_SALT_BYTES, _NONCE_BYTES = 16, 12
_MAX_UNSEALED = 10_000  # cached keys; past this the cache starts over


class DecryptionError(ValueError):
    """The ciphertext does not decrypt with the key (or is no ciphertext)."""


def new_aes_key() -> str:
    return base64.b64encode(secrets.token_bytes(AES_KEY_BYTES)).decode("ascii")


def _cipher(key: bytes) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(key), modes.CBC(_ZERO_IV))


def encrypt(plaintext: bytes, key: bytes) -> str:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = _cipher(key).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


def decrypt(ciphertext: str, key: bytes) -> bytes:
    try:
        raw = base64.b64decode(ciphertext, validate=True)
        decryptor = _cipher(key).decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except (binascii.Error, ValueError):
        raise DecryptionError("the content does not decrypt with the app's AES key") from None


def _kek(passphrase: str, salt: bytes) -> AESGCM:
    derived = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode())
    return AESGCM(derived)


def seal(secret: str, passphrase: str | None) -> str:
    """The text to store: `secret` sealed under the passphrase, or itself without one."""
    if not passphrase:
        return secret
    salt, nonce = os.urandom(_SALT_BYTES), os.urandom(_NONCE_BYTES)
    sealed = _kek(passphrase, salt).encrypt(nonce, secret.encode(), None)
    return _SEALED + base64.b64encode(salt + nonce + sealed).decode("ascii")


def unseal(stored: str, passphrase: str | None) -> str:
    if not stored.startswith(_SEALED):
        return stored
    if not passphrase:
        raise KeyPassphraseError(
            "the apps' AES keys are sealed: set ZHIFU_KEY_PASSPHRASE to their passphrase"
        )
    raw = base64.b64decode(stored.removeprefix(_SEALED))
    salt, nonce = raw[:_SALT_BYTES], raw[_SALT_BYTES : _SALT_BYTES + _NONCE_BYTES]
    try:
        return (
            _kek(passphrase, salt).decrypt(nonce, raw[_SALT_BYTES + _NONCE_BYTES :], None).decode()
        )
    except InvalidTag:
        raise KeyPassphraseError(
            "ZHIFU_KEY_PASSPHRASE does not unseal the apps' AES keys"
        ) from None


class AppAesKeys:
    def __init__(self, db: Database, clock: Clock, passphrase: str | None = None) -> None:
        self.db = db
        self.clock = clock
        self._passphrase = passphrase
        self._unsealed: dict[str, bytes] = {}

    async def generate(self, app_id: str) -> str:
        """A new AES key for the app (base64), replacing any earlier one."""
        key = new_aes_key()
        async with self.db.connection() as conn:
            await conn.execute(
                """
                insert into open_app_aes_key (app_id, aes_key, created_at) values (%s, %s, %s)
                on conflict (app_id) do update
                    set aes_key = excluded.aes_key, created_at = excluded.created_at
                """,
                (app_id, seal(key, self._passphrase), self.clock.now()),
            )
        return key

    async def get(self, app_id: str) -> bytes | None:
        """The app's AES key, or None if it has none."""
        row = await self.db.fetch_one(
            "select aes_key from open_app_aes_key where app_id = %s", (app_id,)
        )
        if row is None:
            return None
        stored: str = row["aes_key"]
        key = self._unsealed.get(stored)
        if key is None:
            key = self._unseal(stored)
            if self._passphrase and not stored.startswith(_SEALED):
                await self._seal_stored(app_id, stored)
        return key

    def _unseal(self, stored: str) -> bytes:
        key = base64.b64decode(unseal(stored, self._passphrase))
        if len(self._unsealed) >= _MAX_UNSEALED:
            self._unsealed.clear()
        self._unsealed[stored] = key
        return key

    async def _seal_stored(self, app_id: str, clear: str) -> None:
        async with self.db.connection() as conn:
            await conn.execute(
                "update open_app_aes_key set aes_key = %s where app_id = %s and aes_key = %s",
                (seal(clear, self._passphrase), app_id, clear),
            )
