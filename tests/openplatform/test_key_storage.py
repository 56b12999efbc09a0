"""The platform's private keys at rest: encrypted under ZHIFU_KEY_PASSPHRASE, keys found
in clear encrypted on the next load, and a process that cannot decrypt them refuses to
start instead of signing with nothing. On a database of its own (keys are global)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tests.conftest import private_database
from zhifu.clock import ManualClock
from zhifu.db import Database
from zhifu.openplatform.keys import KeyPassphraseError, PlatformKeys
from zhifu.openplatform.signing import load_public_key

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
async def fresh(database_url: str) -> AsyncIterator[Database]:
    async with private_database(database_url, max_size=2) as database:
        yield database


async def stored(db: Database) -> list[str]:
    rows = await db.fetch_all("select private_key from platform_key order by id")
    return [row["private_key"] for row in rows]


async def test_keys_in_clear_are_encrypted_once_a_passphrase_is_given(fresh: Database) -> None:
    clock = ManualClock()
    first = await PlatformKeys(fresh, clock).current()
    assert (await stored(fresh))[0].startswith("-----BEGIN PRIVATE KEY-----")

    guarded = PlatformKeys(fresh, clock, PASSPHRASE)
    key = await guarded.current()
    assert key.public_key_pem == first.public_key_pem
    assert (await stored(fresh))[0].startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    signature = key.private_key.sign(b"zhifu", padding.PKCS1v15(), hashes.SHA256())
    public = load_public_key(first.public_key_pem)
    public.verify(signature, b"zhifu", padding.PKCS1v15(), hashes.SHA256())  # raises if not

    rotated = await guarded.rotate(timedelta(days=1))
    assert all(pem.startswith("-----BEGIN ENCRYPTED") for pem in await stored(fresh))
    again = PlatformKeys(fresh, clock, PASSPHRASE)
    assert (await again.current()).public_key_pem == rotated.public_key_pem


async def test_without_the_right_passphrase_the_keys_are_refused(fresh: Database) -> None:
    clock = ManualClock()
    await PlatformKeys(fresh, clock, PASSPHRASE).current()
    with pytest.raises(KeyPassphraseError, match="set ZHIFU_KEY_PASSPHRASE"):
        await PlatformKeys(fresh, clock).current()
    with pytest.raises(KeyPassphraseError, match="does not decrypt"):
        await PlatformKeys(fresh, clock, "wrong passphrase").current()
