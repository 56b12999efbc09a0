"""Users: sign-up, sessions, payment PINs, KYC tiers and the wallets they limit."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from zhifu.clock import Clock
from zhifu.db import idempotency
from zhifu.db.database import Conn, Database
from zhifu.db.due import Job
from zhifu.db.throttle import Lockout, RateLimit, RateLimiter, forget_old
from zhifu.errors import (
    CurrentPinRequired,
    NotFound,
    PhoneTaken,
    PinNotSet,
    SignInLocked,
    Unauthorized,
    ZhifuError,
)
from zhifu.identity.credentials import (
    Hasher,
    PinState,
    after_attempt,
    check_password,
    check_pin,
    refuse_if_locked,
)
from zhifu.identity.limits import KYC_LIMITS, TierLimits, check_tier
from zhifu.identity.phones import mask_phone, normalise_phone
from zhifu.identity.wallets import apply_tier_limits, existing_wallets, wallet_account

SESSION_LIFETIME = timedelta(days=30)
WALLET_CACHE_SIZE = 100_000
BAD_LOGIN = "wrong phone number or password"
LOGIN_LOCKOUT = Lockout("consumer_phone")
LOGIN_RATE = RateLimit(
    "consumer_sign_in",
    limit=30,
    window=timedelta(minutes=10),
    refusal="too many failed sign-ins from this address: try again later",
)
_USER_COLUMNS = "id, phone, kyc_tier, pin_hash is not null as has_pin, sandbox, created_at"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    phone: str
    kyc_tier: int
    has_pin: bool
    sandbox: bool
    created_at: datetime

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)

    @property
    def limits(self) -> TierLimits:
        return KYC_LIMITS[self.kyc_tier]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "phone": self.phone,
            "kyc_tier": self.kyc_tier,
            "has_pin": self.has_pin,
            "sandbox": self.sandbox,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    user_id: int
    expires_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "token_type": "Bearer",
            "user_id": self.user_id,
            "expires_at": self.expires_at.isoformat(),
        }


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(row: dict[str, Any]) -> User:
    return User(**row)


async def set_tier_in(conn: Conn, user_id: int, tier: int) -> None:
    """Set the user's KYC tier and their wallets' limits, in the caller's transaction."""
    check_tier(tier)
    cur = await conn.execute("update app_user set kyc_tier = %s where id = %s", (tier, user_id))
    if cur.rowcount != 1:
        raise NotFound(f"user {user_id} does not exist")
    for account_id in (await existing_wallets(conn, user_id)).values():
        await apply_tier_limits(conn, account_id, tier)


class UserService:
    def __init__(self, db: Database, clock: Clock, *, hasher: Hasher | None = None) -> None:
        self.db = db
        self.clock = clock
        self.hasher = hasher or Hasher()
        self.rate_limiter = RateLimiter(db, clock)
        self._wallets: dict[tuple[int, str], int] = {}
        self._phones: dict[int, str] = {}

    def jobs(self) -> list[Job]:
        # The failed-attempt records of every sign-in and rate limit (zhifu.db.throttle),
        # cleared once for all of them here, where consumers sign in.
        return [("forget-old-attempts", 3600.0, self._forget_old_attempts)]

    async def _forget_old_attempts(self) -> int:
        return await forget_old(self.db, self.clock.now())

    # Sign-up and sessions.

    async def signup(
        self,
        phone: str,
        password: str,
        *,
        kyc_tier: int = 0,
        sandbox: bool = False,
        idempotency_key: str | None = None,
    ) -> User:
        """Register a user and open their CNY wallet, in one transaction. A sandbox user
        (a developer's test buyer) holds only sandbox money."""
        phone = normalise_phone(phone)
        check_tier(kyc_tier)
        password_hash = await self.hasher.hash(check_password(password))
        request = {"phone": phone, "kyc_tier": kyc_tier, "sandbox": sandbox}

        async def work(conn: Conn) -> int:
            earlier = await idempotency.replayed(
                conn, idempotency.SIGNUP_SCOPE, idempotency_key, request
            )
            if earlier is not None:
                return int(earlier["user_id"])
            user_id = await self._insert_user(conn, phone, password_hash, kyc_tier, sandbox)
            await wallet_account(conn, user_id, "CNY")
            await idempotency.remember(
                conn, idempotency.SIGNUP_SCOPE, idempotency_key, {"user_id": user_id}
            )
            return user_id

        return await self.get(await self.db.transaction(work))

    async def _insert_user(
        self, conn: Conn, phone: str, password_hash: str, tier: int, sandbox: bool
    ) -> int:
        cur = await conn.execute(
            """
            insert into app_user (phone, password_hash, kyc_tier, sandbox, created_at)
            values (%s, %s, %s, %s, %s) on conflict (phone) do nothing returning id
            """,
            (phone, password_hash, tier, sandbox, self.clock.now()),
        )
        row = await cur.fetchone()
        if row is None:
            raise PhoneTaken("this phone number is already registered")
        return int(row["id"])

    async def login(self, phone: str, password: str, *, client: str | None = None) -> Session:
        """A new session for the right phone and password; the same refusal otherwise.

        Wrong passwords lock the phone (LOGIN_LOCKOUT, counted whether or not the phone
        is registered, so a lock tells nothing) and count against the client's address
        (LOGIN_RATE), which stops one address from trying many phones."""
        if client is None:
            return await self._login(phone, password)
        async with self.rate_limiter.counting_failures(
            [(LOGIN_RATE, client)], failures=(Unauthorized, SignInLocked)
        ):
            return await self._login(phone, password)

    async def _login(self, phone: str, password: str) -> Session:
        try:
            phone = normalise_phone(phone)
        except ZhifuError:
            raise Unauthorized(BAD_LOGIN) from None
        secret = password if isinstance(password, str) else ""

        async def work(conn: Conn) -> Session | ZhifuError:
            strikes = await LOGIN_LOCKOUT.locked_row(conn, phone)
            now = self.clock.now()
            LOGIN_LOCKOUT.refuse_if_locked(strikes, now)
            cur = await conn.execute(
                "select id, password_hash from app_user where phone = %s", (phone,)
            )
            row = await cur.fetchone()
            stored = row["password_hash"] if row else self.hasher.decoy
            if row is None or not await self.hasher.matches(stored, secret):
                locked = await LOGIN_LOCKOUT.failed(conn, phone, strikes, now)
                return locked or Unauthorized(BAD_LOGIN)
            await LOGIN_LOCKOUT.succeeded(conn, phone)
            return await self._open_session(conn, int(row["id"]), now)

        outcome = await self.db.transaction(work)
        if isinstance(outcome, ZhifuError):
            raise outcome
        return outcome

    async def _open_session(self, conn: Conn, user_id: int, now: datetime) -> Session:
        token = secrets.token_urlsafe(32)
        session = Session(token=token, user_id=user_id, expires_at=now + SESSION_LIFETIME)
        await conn.execute(
            "delete from user_session where user_id = %s and expires_at <= %s", (user_id, now)
        )
        await conn.execute(
            """
            insert into user_session (token_hash, user_id, created_at, expires_at)
            values (%s, %s, %s, %s)
            """,
            (token_hash(token), user_id, now, session.expires_at),
        )
        return session

    async def authenticate(self, token: str) -> User:
        """The user a live session token belongs to."""
        row = await self.db.fetch_one(
            f"""
            select {_USER_COLUMNS} from app_user where id = (
                select user_id from user_session where token_hash = %s and expires_at > %s
            )
            """,
            (token_hash(token), self.clock.now()),
        )
        if row is None:
            raise Unauthorized("the session token is unknown or has expired")
        return _user(row)

    async def logout(self, token: str) -> None:
        async with self.db.connection() as conn:
            await conn.execute(
                "delete from user_session where token_hash = %s", (token_hash(token),)
            )

    # Looking users up.

    async def get(self, user_id: int, conn: Conn | None = None) -> User:
        """The user; inside a transaction, pass its connection (`conn`) rather than take
        a second one from the pool."""
        sql = f"select {_USER_COLUMNS} from app_user where id = %s"
        if conn is None:
            row = await self.db.fetch_one(sql, (user_id,))
        else:
            row = await (await conn.execute(sql, (user_id,))).fetchone()
        if row is None:
            raise NotFound(f"user {user_id} does not exist")
        return _user(row)

    async def get_many(self, user_ids: set[int]) -> dict[int, User]:
        rows = await self.db.fetch_all(
            f"select {_USER_COLUMNS} from app_user where id = any(%s)", (list(user_ids),)
        )
        return {row["id"]: _user(row) for row in rows}

    async def by_phone(self, phone: str) -> User:
        row = await self.db.fetch_one(
            f"select {_USER_COLUMNS} from app_user where phone = %s", (normalise_phone(phone),)
        )
        if row is None:
            raise NotFound("no user has this phone number")
        return _user(row)

    # Payment PIN.

    async def set_pin(self, user_id: int, pin: str, *, current_pin: str | None = None) -> None:
        """Set the payment PIN; changing it needs the current one."""
        new_hash = await self.hasher.hash(check_pin(pin))
        user = await self.get(user_id)
        if user.has_pin:
            if current_pin is None:
                raise CurrentPinRequired("send the current payment PIN to change it")
            await self.verify_pin(user_id, current_pin)
        async with self.db.connection() as conn:
            await conn.execute(
                """
                update app_user set pin_hash = %s, pin_failed_attempts = 0,
                    pin_locked_until = null where id = %s
                """,
                (new_hash, user_id),
            )

    async def verify_pin(self, user_id: int, pin: str) -> None:
        """Check the payment PIN, counting wrong tries; raise unless it matches.

        The user's row stays locked while the hash is checked, so concurrent guesses
        are counted one after another and cannot slip past the lockout.
        """

        async def work(conn: Conn) -> ZhifuError | None:
            row = await self._pin_row(conn, user_id)
            state = PinState(row["pin_failed_attempts"], row["pin_locked_until"])
            now = self.clock.now()
            refuse_if_locked(state, now)
            matched = await self.hasher.matches(row["pin_hash"], str(pin))
            new_state, error = after_attempt(state, matched, now)
            if new_state != state:
                await conn.execute(
                    """
                    update app_user set pin_failed_attempts = %s, pin_locked_until = %s
                    where id = %s
                    """,
                    (new_state.failed_attempts, new_state.locked_until, user_id),
                )
            return error

        error = await self.db.transaction(work)
        if error is not None:
            raise error

    async def _pin_row(self, conn: Conn, user_id: int) -> dict[str, Any]:
        cur = await conn.execute(
            """
            select pin_hash, pin_failed_attempts, pin_locked_until from app_user
            where id = %s for update
            """,
            (user_id,),
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"user {user_id} does not exist")
        if row["pin_hash"] is None:
            raise PinNotSet("set a payment PIN first")
        return dict(row)

    # KYC tier and wallets.

    async def set_kyc_tier(self, user_id: int, tier: int) -> User:
        """Move the user to a KYC tier and give each of their wallets its limits: an
        operator's act (`zhifu user create --kyc-tier`, an approved KYC request)."""
        await self.db.transaction(lambda conn: set_tier_in(conn, user_id, tier))
        return await self.get(user_id)

    async def masked_phone(self, user_id: int) -> str:
        """The user's phone as others may see it (138****0001). A phone number never
        changes once registered, so each process keeps the ones it has read."""
        phone = self._phones.get(user_id)
        if phone is None:
            phone = (await self.get(user_id)).phone
            if len(self._phones) >= WALLET_CACHE_SIZE:
                self._phones.clear()
            self._phones[user_id] = phone
        return mask_phone(phone)

    async def wallet(self, user_id: int, currency: str = "CNY") -> int:
        """The ledger account of the user's wallet in `currency` (opened if missing)."""
        cached = self._wallets.get((user_id, currency))
        if cached is None:
            cached = await self.db.transaction(lambda conn: wallet_account(conn, user_id, currency))
            if len(self._wallets) >= WALLET_CACHE_SIZE:
                self._wallets.clear()
            self._wallets[(user_id, currency)] = cached
        return cached

    async def wallets(self, user_id: int) -> dict[str, int]:
        """Currency -> ledger account of every wallet the user has."""
        async with self.db.connection() as conn:
            return await existing_wallets(conn, user_id)
