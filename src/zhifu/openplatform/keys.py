"""zhifu's platform key pairs: they sign every gateway response (and notification), and
their public halves are what merchants configure as the "alipay public key".

The first key is generated on first start and kept in the database, so every zhifu
process on one database signs with the same keys. A private key never leaves this
module: it is not logged, not printed and not returned by any API.

Rotation with a grace period. `rotate(grace)` makes a new key pair, the newest. Every
app is pinned to the key its merchant has configured (`open_app.platform_key_id`): a new
app to the newest key, the apps that existed before a rotation to the outgoing key. The
outgoing key `retires_at` the end of the grace period; until then both keys sign, each
for its own apps, and an app moves to the newest key when its merchant says so
(`use_newest`). Once a key has retired, its apps are signed with the newest key.
`for_app` is the one way to choose the key that signs for an app.

Keys are read on every request, so they are cached: a key's retirement is decided
against the injected clock on every call, while a change made by another process (a
rotation, a merchant's switch) is seen within `CACHE_FOR`; a change made through this
object is seen at once.

At rest. Given a passphrase (ZHIFU_KEY_PASSPHRASE), private keys are stored encrypted
(PKCS#8, the best encryption `cryptography` offers) and a key found in clear is encrypted
on the next load; a process without the passphrase, or with a wrong one, refuses to
start rather than sign with nothing. Decrypting is slow on purpose, so a loaded private
key is kept for as long as its row lives. Without a passphrase keys are stored in clear:
the database's own access control is then their only guard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from zhifu.clock import Clock
from zhifu.db.database import Conn, Database
from zhifu.errors import InvalidRequest, ZhifuError
from zhifu.openplatform.signing import public_pem

PLATFORM_KEY_BITS = 2048
CACHE_FOR = timedelta(seconds=5)
MAX_GRACE = timedelta(days=365)
_MAX_PINS = 100_000  # cached app pins; past this the cache starts over
_APP_ID = re.compile(r"[0-9]{16}")
# Serialises key changes across processes: one generates or rotates, the others wait.
_LOCK = "select pg_advisory_xact_lock(hashtext('zhifu.platform_key'))"
_COLUMNS = "id, public_key, private_key, created_at, retires_at"
_SIGNING = f"""
    select {_COLUMNS} from platform_key
    where (retires_at is null or retires_at > %s) and private_key <> '' order by id
"""
_NEWEST_ID = "(select id from platform_key where retires_at is null)"


@dataclass(frozen=True, repr=False)
class PlatformKey:
    public_key_pem: str
    private_key: rsa.RSAPrivateKey
    key_id: int
    created_at: datetime
    retires_at: datetime | None = None

    def __repr__(self) -> str:  # never show the private key, even in a traceback
        return f"PlatformKey(key_id={self.key_id}, <private>)"

    def signs_at(self, moment: datetime) -> bool:
        return self.retires_at is None or moment < self.retires_at

    def to_dict(self) -> dict[str, Any]:
        """The public half and its dates; never the private key."""
        return {
            "key_id": self.key_id,
            "public_key": self.public_key_pem,
            "created_at": self.created_at.isoformat(),
            "retires_at": self.retires_at.isoformat() if self.retires_at else None,
        }


@dataclass
class _KeyRing:
    """The keys that still sign, as loaded at `loaded_at`, and the apps' pins seen since."""

    keys: dict[int, PlatformKey]
    newest: PlatformKey
    loaded_at: datetime
    pins: dict[str, int | None] = field(default_factory=dict)

    def fresh_at(self, moment: datetime) -> bool:
        return self.loaded_at <= moment < self.loaded_at + CACHE_FOR


class KeyPassphraseError(ZhifuError):
    """The stored platform keys cannot be read with the passphrase this process has."""

    code = "key_passphrase"
    status = 503
    title = "Platform keys unreadable"


def _private_pem(key: rsa.RSAPrivateKey, passphrase: str | None) -> str:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode("ascii")


def _encrypted(pem: str) -> bool:
    return pem.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")


def _private_key(pem: str, passphrase: str | None) -> rsa.RSAPrivateKey:
    if _encrypted(pem) and not passphrase:
        raise KeyPassphraseError(
            "the platform keys are encrypted: set ZHIFU_KEY_PASSPHRASE to their passphrase"
        )
    password = passphrase.encode() if passphrase and _encrypted(pem) else None
    try:
        private = serialization.load_pem_private_key(pem.encode("ascii"), password)
    except ValueError:
        raise KeyPassphraseError(
            "ZHIFU_KEY_PASSPHRASE does not decrypt the platform keys"
        ) from None
    assert isinstance(private, rsa.RSAPrivateKey)
    return private


def check_grace(grace: timedelta) -> timedelta:
    if not timedelta(0) <= grace <= MAX_GRACE:
        raise InvalidRequest("the grace period is from 0 to 365 days", grace=str(grace))
    return grace


class PlatformKeys:
    def __init__(self, db: Database, clock: Clock, passphrase: str | None = None) -> None:
        self.db = db
        self.clock = clock
        self._passphrase = passphrase
        self._ring: _KeyRing | None = None
        self._private: dict[int, rsa.RSAPrivateKey] = {}  # decrypted once per key

    async def current(self) -> PlatformKey:
        """The newest key pair, made on first use: new apps are signed with it."""
        return (await self._keys()).newest

    async def for_app(self, app_id: str | None) -> PlatformKey:
        """The key that signs for this app now: the key it is pinned to until that key
        retires, else the newest. An unknown or missing app gets the newest key."""
        ring = await self._keys()
        pin = await self._pin(ring, app_id) if app_id and _APP_ID.fullmatch(app_id) else None
        if pin is not None and pin > ring.newest.key_id:  # made by another process since
            ring = await self._keys(reload=True)
        key = ring.keys.get(pin) if pin is not None else None
        if key is not None and key.signs_at(self.clock.now()):
            return key
        return ring.newest

    async def signing(self) -> list[PlatformKey]:
        """Every key that signs now, oldest first: during a grace period, two or more."""
        now = self.clock.now()
        return [key for key in (await self._keys()).keys.values() if key.signs_at(now)]

    async def rotate(self, grace: timedelta) -> PlatformKey:
        """Make a new newest key. Apps keep their key until it retires at the end of
        `grace` (0: at once); retired keys lose their private halves."""
        check_grace(grace)

        async def work(conn: Conn) -> PlatformKey:
            await conn.execute(_LOCK)
            now = self.clock.now()
            await conn.execute(
                f"update open_app set platform_key_id = {_NEWEST_ID} where platform_key_id is null"
            )
            await conn.execute(
                "update platform_key set retires_at = %s where retires_at is null",
                (now + grace,),
            )
            await conn.execute(
                "update platform_key set private_key = '' where retires_at <= %s", (now,)
            )
            return await self._generate(conn)

        key = await self.db.transaction(work)
        self._ring = None
        return key

    async def use_newest(self, app_id: str) -> PlatformKey:
        """Pin the app to the newest key: its merchant has configured that key."""
        async with self.db.connection() as conn:
            await conn.execute(
                f"update open_app set platform_key_id = {_NEWEST_ID} where app_id = %s",
                (app_id,),
            )
        self._ring = None
        return await self.for_app(app_id)

    async def _keys(self, *, reload: bool = False) -> _KeyRing:
        now = self.clock.now()
        if reload or self._ring is None or not self._ring.fresh_at(now):
            self._ring = await self.db.transaction(self._load)
        return self._ring

    async def _load(self, conn: Conn) -> _KeyRing:
        now = self.clock.now()
        rows = await (await conn.execute(_SIGNING, (now,))).fetchall()
        if not any(row["retires_at"] is None for row in rows):  # the first start
            await conn.execute(_LOCK)
            rows = await (await conn.execute(_SIGNING, (now,))).fetchall()
            if not any(row["retires_at"] is None for row in rows):
                await self._generate(conn)
                rows = await (await conn.execute(_SIGNING, (now,))).fetchall()
        keys = {row["id"]: await self._from_row(conn, row) for row in rows}
        newest = next(key for key in keys.values() if key.retires_at is None)
        return _KeyRing(keys, newest, now)

    async def _from_row(self, conn: Conn, row: dict[str, Any]) -> PlatformKey:
        private = self._private.get(row["id"])
        if private is None:
            private = self._private[row["id"]] = _private_key(row["private_key"], self._passphrase)
        if self._passphrase and not _encrypted(row["private_key"]):
            await conn.execute(
                "update platform_key set private_key = %s where id = %s",
                (_private_pem(private, self._passphrase), row["id"]),
            )
        return PlatformKey(
            row["public_key"], private, row["id"], row["created_at"], row["retires_at"]
        )

    async def _pin(self, ring: _KeyRing, app_id: str) -> int | None:
        if app_id in ring.pins:
            return ring.pins[app_id]
        row = await self.db.fetch_one(
            "select platform_key_id from open_app where app_id = %s", (app_id,)
        )
        if row is None:
            return None
        if len(ring.pins) >= _MAX_PINS:
            ring.pins.clear()
        pin: int | None = row["platform_key_id"]
        ring.pins[app_id] = pin
        return pin

    async def _generate(self, conn: Conn) -> PlatformKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=PLATFORM_KEY_BITS)
        now = self.clock.now()
        cur = await conn.execute(
            """
            insert into platform_key (public_key, private_key, created_at)
            values (%s, %s, %s) returning id
            """,
            (public_pem(private.public_key()), _private_pem(private, self._passphrase), now),
        )
        row = await cur.fetchone()
        assert row is not None
        return PlatformKey(public_pem(private.public_key()), private, row["id"], now)
