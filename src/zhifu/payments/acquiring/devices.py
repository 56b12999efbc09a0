"""A consumer's payment devices: the secrets behind payment codes and tap-to-pay.

Registering a device makes a fresh payment-code secret (shown once, base64, for the
wallet app to keep) and a tap token; with an ECDSA P-256 public key the device can also
tap to pay. A revoked device's codes and taps are refused from then on.

Device numbers inside payment codes are `payment_device.id`. It names a device, not an
account, and paycode.py masks it with the code's own digits, so it is neither read off a
code nor linked across codes; forging a code still needs the device secret.

The code a device shows (`current_code`) is the one the wallet app computes offline: the
current minute's code in the first of its six slots that has not paid yet, so that after
each payment the app shows a fresh code.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from zhifu.clock import Clock
from zhifu.db.database import Conn, Database
from zhifu.db.idempotency import buyer_scope, remember, replayed
from zhifu.errors import Conflict, InvalidRequest, NotFound, ServiceUnavailable, ZhifuError
from zhifu.payments.acquiring import paycode, tap
from zhifu.payments.errors import InvalidPaymentCode, InvalidTapRequest

MAX_ACTIVE_DEVICES = 10
DEFAULT_DEVICE_NAME = "Phone"
_COLUMNS = "id, user_id, name, tap_token, tap_public_key, created_at, revoked_at"


class TooManyDevices(Conflict):
    code = "too_many_devices"
    title = "Too many payment devices"


class PaymentCodesExhausted(ZhifuError):
    code = "payment_codes_exhausted"
    status = 429
    title = "No fresh payment code this minute"


@dataclass(frozen=True, slots=True)
class Device:
    id: int
    user_id: int
    name: str
    tap_token: str
    tap_public_key: str | None
    created_at: datetime
    revoked_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "tap_token": self.tap_token,
            "tap_enabled": self.tap_public_key is not None,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at and self.revoked_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class NewDevice:
    """A device just registered, with its payment-code secret (shown only now)."""

    device: Device
    code_secret: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.device.to_dict(),
            "code_secret": base64.b64encode(self.code_secret).decode("ascii"),
        }


@dataclass(frozen=True, slots=True)
class PaymentCode:
    """A one-time payment code as the wallet app shows it."""

    code: str
    device_id: int
    expires_at: datetime
    expires_in: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "device_id": self.device_id,
            "expires_at": self.expires_at.isoformat(),
            "expires_in": self.expires_in,
        }


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 64 or not name.isprintable():
        raise InvalidRequest("a device name has 1 to 64 printable characters", field="name")
    return name.strip()


def _code_expiry(step: int) -> datetime:
    """A code is accepted in its own time step and the next one (see paycode.py)."""
    return datetime.fromtimestamp((step + 2) * paycode.STEP_SECONDS, UTC)


class DeviceService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def register(
        self,
        user_id: int,
        name: str,
        tap_public_key: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> NewDevice:
        """A new device for the user; `tap_public_key` (PEM, P-256) enables tap-to-pay.
        The same idempotency key again answers the same device with the same secret: the
        answer goes to the same signed-in user, and an app that lost the first answer
        needs the secret to use the device."""
        name = _check_name(name)
        if tap_public_key is not None:
            tap.load_device_public_key(tap_public_key)
        secret = paycode.new_device_secret()
        scope, request = buyer_scope(user_id), {"device": [name, tap_public_key]}

        async def work(conn: Conn) -> NewDevice:
            earlier = await replayed(conn, scope, idempotency_key, request)
            if earlier is not None:
                return await self._made(conn, earlier["device_id"])
            await self._check_room(conn, user_id)
            cur = await conn.execute(
                f"""
                insert into payment_device
                    (user_id, name, code_secret, tap_token, tap_public_key, created_at)
                values (%s, %s, %s, %s, %s, %s) returning {_COLUMNS}
                """,
                (user_id, name, secret, tap.new_tap_token(), tap_public_key, self.clock.now()),
            )
            row = await cur.fetchone()
            assert row is not None
            if row["id"] >= paycode.DEVICE_NUMBER_LIMIT:
                raise ServiceUnavailable("payment device numbers are exhausted")
            await remember(conn, scope, idempotency_key, {"device_id": row["id"]})
            return NewDevice(Device(**row), secret)

        return await self.db.transaction(work)

    async def _made(self, conn: Conn, device_id: int) -> NewDevice:
        """A device registered earlier with the idempotency key being replayed."""
        cur = await conn.execute(
            f"select {_COLUMNS}, code_secret from payment_device where id = %s", (device_id,)
        )
        row = await cur.fetchone()
        assert row is not None
        secret = bytes(row.pop("code_secret"))
        return NewDevice(Device(**row), secret)

    async def _check_room(self, conn: Conn, user_id: int) -> None:
        # Lock the user so that concurrent registrations count one after another.
        await conn.execute("select 1 from app_user where id = %s for update", (user_id,))
        cur = await conn.execute(
            "select count(*) as n from payment_device where user_id = %s and revoked_at is null",
            (user_id,),
        )
        row = await cur.fetchone()
        assert row is not None
        if row["n"] >= MAX_ACTIVE_DEVICES:
            raise TooManyDevices(
                f"a user has at most {MAX_ACTIVE_DEVICES} active devices; revoke one first"
            )

    async def devices(self, user_id: int) -> list[Device]:
        """The user's active devices, newest first."""
        rows = await self.db.fetch_all(
            f"""
            select {_COLUMNS} from payment_device
            where user_id = %s and revoked_at is null order by id desc
            """,
            (user_id,),
        )
        return [Device(**row) for row in rows]

    async def revoke(self, user_id: int, device_id: int) -> None:
        async with self.db.connection() as conn:
            cur = await conn.execute(
                """
                update payment_device set revoked_at = %s
                where id = %s and user_id = %s and revoked_at is null
                """,
                (self.clock.now(), device_id, user_id),
            )
        if cur.rowcount != 1:
            raise NotFound(f"device {device_id} does not exist", device_id=device_id)

    # Payment codes.

    async def current_code(self, user_id: int) -> PaymentCode:
        """The code the user's newest device shows now (a device is made if they have
        none), in the first slot of this minute that has not been used."""
        device, secret = await self._newest(user_id)
        now = self.clock.now()
        step = paycode.step(now)
        slot = await self._free_slot(device.id, step)
        expires_at = _code_expiry(step)
        return PaymentCode(
            code=paycode.generate(device.id, secret, now, slot=slot),
            device_id=device.id,
            expires_at=expires_at,
            expires_in=int((expires_at - now).total_seconds()),
        )

    async def _newest(self, user_id: int) -> tuple[Device, bytes]:
        found = await self._active("user_id = %s", user_id)
        if found is not None:
            return found
        new = await self.register(user_id, DEFAULT_DEVICE_NAME)
        return new.device, new.code_secret

    async def _free_slot(self, device_id: int, step: int) -> int:
        first = step * paycode.SLOTS
        rows = await self.db.fetch_all(
            """
            select counter from used_payment_code
            where device_id = %s and counter between %s and %s
            """,
            (device_id, first, first + paycode.SLOTS - 1),
        )
        used = {row["counter"] - first for row in rows}
        free = [slot for slot in range(paycode.SLOTS) if slot not in used]
        if not free:
            raise PaymentCodesExhausted(
                "six payment codes were used this minute; wait for the next one",
                retry_after=paycode.STEP_SECONDS,
            )
        return free[0]

    async def verify_code(self, code: str) -> tuple[Device, int]:
        """The active device a payment code belongs to and the counter it used;
        InvalidPaymentCode (or PaymentCodeExpired) otherwise."""
        found = await self._active("id = %s", paycode.identify(code))
        if found is None:
            raise InvalidPaymentCode("the payment code is not valid")
        device, secret = found
        return device, paycode.verify(code, secret, self.clock.now())

    async def tap_device(self, tap_token: str) -> Device:
        """The active, tap-enabled device of a tap token."""
        found = await self._active("tap_token = %s", tap_token)
        if found is None or found[0].tap_public_key is None:
            raise InvalidTapRequest("unknown or revoked tap token", field="tap_token")
        return found[0]

    async def _active(self, condition: str, value: object) -> tuple[Device, bytes] | None:
        """The newest unrevoked device matching `condition`, with its payment-code secret."""
        row = await self.db.fetch_one(
            f"""
            select {_COLUMNS}, code_secret from payment_device
            where {condition} and revoked_at is null order by id desc limit 1
            """,
            (value,),
        )
        if row is None:
            return None
        secret = bytes(row.pop("code_secret"))
        return Device(**row), secret
