"""zhifu's platform key pair: it signs every gateway response, and its public half is what
merchants configure as the "alipay public key".

Generated on first start and kept in the database, so every zhifu process on one
database signs with the same key. The private key never leaves this module: it is not
logged, not printed and not returned by any API.

TODO(issue 4): encrypt the private key at rest (the tokenizer secret is per data
directory, so it cannot be the key-encryption key while several data directories share
one database), and rotation with a grace period in which both keys verify (`retired_at`).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from zhifu.clock import Clock
from zhifu.db.database import Conn, Database
from zhifu.openplatform.signing import public_pem

PLATFORM_KEY_BITS = 2048
# Serialises the first start of several processes: one generates, the others read it.
_LOCK = "select pg_advisory_xact_lock(hashtext('zhifu.platform_key'))"
_CURRENT = """
    select public_key, private_key from platform_key
    where retired_at is null order by id desc limit 1
"""


@dataclass(frozen=True, repr=False)
class PlatformKey:
    public_key_pem: str
    private_key: rsa.RSAPrivateKey

    def __repr__(self) -> str:  # never show the private key, even in a traceback
        return "PlatformKey(<private>)"


def _private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def _from_row(row: dict[str, str]) -> PlatformKey:
    private = serialization.load_pem_private_key(row["private_key"].encode("ascii"), None)
    assert isinstance(private, rsa.RSAPrivateKey)
    return PlatformKey(row["public_key"], private)


class PlatformKeys:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._current: PlatformKey | None = None

    async def current(self) -> PlatformKey:
        """The key pair that signs responses now, made on first use."""
        if self._current is None:
            self._current = await self.db.transaction(self._load_or_create)
        return self._current

    async def _load_or_create(self, conn: Conn) -> PlatformKey:
        await conn.execute(_LOCK)
        cur = await conn.execute(_CURRENT)
        row = await cur.fetchone()
        if row is not None:
            return _from_row(row)
        private = rsa.generate_private_key(public_exponent=65537, key_size=PLATFORM_KEY_BITS)
        key = PlatformKey(public_pem(private.public_key()), private)
        await conn.execute(
            """
            insert into platform_key (public_key, private_key, created_at)
            values (%s, %s, %s)
            """,
            (key.public_key_pem, _private_pem(private), self.clock.now()),
        )
        return key
