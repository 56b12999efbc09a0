"""Merchant staff sign-in for the merchant portal: logins, sessions, the lockout.

A login belongs to one merchant: a login name (lower case, starting with a letter) and
optionally a phone number, either of which signs in, with a password hashed by
identity's argon2id hasher. A wrong password and an unknown name get the same refusal
after the same work (the hasher's decoy), so the sign-in form does not tell which names
exist. Wrong passwords lock the login as they lock a consumer's phone (one lockout
rule, zhifu.db.throttle: the fifth wrong password in a row locks it for a minute, each
later lock twice as long, up to fifteen minutes); the lockout row is locked while a
password is checked, so concurrent guesses are counted one after another.

A portal session is a random token the browser keeps in its cookie; only its SHA-256 is
stored, with an expiry. Signing out deletes it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from zhifu.clock import Clock
from zhifu.db.database import Conn, Database
from zhifu.db.throttle import Lockout, RateLimit, RateLimiter
from zhifu.errors import Conflict, InvalidRequest, SignInLocked, Unauthorized, ZhifuError
from zhifu.identity import normalise_phone
from zhifu.identity.credentials import Hasher, check_password
from zhifu.identity.users import token_hash
from zhifu.merchants.merchants import Merchant, MerchantService

SESSION_LIFETIME = timedelta(hours=12)
PORTAL_LOCKOUT = Lockout("merchant_login")
PORTAL_RATE = RateLimit(
    "merchant_sign_in",
    limit=30,
    window=timedelta(minutes=10),
    refusal="too many failed sign-ins from this address: try again later",
)
BAD_LOGIN = "wrong login or password"
_LOGIN_NAME = re.compile(r"[a-z][a-z0-9._-]{2,63}")
_COLUMNS = "id, merchant_id, login, phone, created_at, last_login_at"


class InvalidLoginName(InvalidRequest):
    code = "invalid_login_name"
    title = "Invalid login name"


class LoginTaken(Conflict):
    code = "login_taken"
    title = "Login name or phone already used"


@dataclass(frozen=True, slots=True)
class MerchantLogin:
    id: int
    merchant_id: int
    login: str
    phone: str | None
    created_at: datetime
    last_login_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "merchant_id": self.merchant_id,
            "login": self.login,
            "phone": self.phone,
            "created_at": self.created_at.isoformat(),
            "last_login_at": self.last_login_at and self.last_login_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class PortalSession:
    token: str
    login: MerchantLogin
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PortalUser:
    """Who a portal session belongs to: the staff login and its merchant."""

    login: MerchantLogin
    merchant: Merchant


def check_login_name(name: str) -> str:
    login = name.strip().lower() if isinstance(name, str) else ""
    if not _LOGIN_NAME.fullmatch(login):
        raise InvalidLoginName(
            "a login name has 3 to 64 characters: letters, digits, '.', '_' or '-', "
            "starting with a letter"
        )
    return login


def _who(name_or_phone: str) -> tuple[str, str] | None:
    """The column and value a sign-in names: a login name, or a phone (digits, '+')."""
    text = name_or_phone.strip() if isinstance(name_or_phone, str) else ""
    try:
        if text[:1].isdigit() or text.startswith("+"):
            return "phone", normalise_phone(text)
        return "login", check_login_name(text)
    except ZhifuError:
        return None


class PortalLogins:
    def __init__(
        self, db: Database, clock: Clock, merchants: MerchantService, hasher: Hasher
    ) -> None:
        self.db = db
        self.clock = clock
        self.merchants = merchants
        self.hasher = hasher
        self.rate_limiter = RateLimiter(db, clock)

    async def create(
        self, merchant_id: int, login: str, password: str, *, phone: str | None = None
    ) -> MerchantLogin:
        """A staff login for the merchant; the login name and the phone are unique."""
        name = check_login_name(login)
        number = normalise_phone(phone) if phone else None
        await self.merchants.get(merchant_id)
        password_hash = await self.hasher.hash(check_password(password))
        row = await self.db.fetch_one(
            f"""
            insert into merchant_login (merchant_id, login, phone, password_hash, created_at)
            values (%s, %s, %s, %s, %s) on conflict do nothing returning {_COLUMNS}
            """,
            (merchant_id, name, number, password_hash, self.clock.now()),
        )
        if row is None:
            raise LoginTaken("this login name or phone is already used", login=name)
        return MerchantLogin(**row)

    async def logins(self, merchant_id: int) -> list[MerchantLogin]:
        rows = await self.db.fetch_all(
            f"select {_COLUMNS} from merchant_login where merchant_id = %s order by id",
            (merchant_id,),
        )
        return [MerchantLogin(**row) for row in rows]

    async def sign_in(
        self, name_or_phone: str, password: str, *, client: str | None = None
    ) -> PortalSession:
        """A new session for the right login and password; the same refusal otherwise.
        Failures count against the client's address too (PORTAL_RATE)."""
        if client is None:
            return await self._sign_in(name_or_phone, password)
        async with self.rate_limiter.counting_failures(
            [(PORTAL_RATE, client)], failures=(Unauthorized, SignInLocked)
        ):
            return await self._sign_in(name_or_phone, password)

    async def _sign_in(self, name_or_phone: str, password: str) -> PortalSession:
        secret = password if isinstance(password, str) else ""
        who = _who(name_or_phone)

        async def work(conn: Conn) -> PortalSession | ZhifuError:
            row = None
            if who is not None:
                cur = await conn.execute(
                    f"select {_COLUMNS}, password_hash from merchant_login where {who[0]} = %s",
                    (who[1],),
                )
                row = await cur.fetchone()
            now = self.clock.now()
            if row is None:
                await self.hasher.matches(self.hasher.decoy, secret)
                return Unauthorized(BAD_LOGIN)
            subject = str(row["id"])
            strikes = await PORTAL_LOCKOUT.locked_row(conn, subject)
            PORTAL_LOCKOUT.refuse_if_locked(strikes, now)
            if not await self.hasher.matches(row["password_hash"], secret):
                locked = await PORTAL_LOCKOUT.failed(conn, subject, strikes, now)
                return locked or Unauthorized(BAD_LOGIN)
            await PORTAL_LOCKOUT.succeeded(conn, subject)
            return await self._open_session(conn, row, now)

        outcome = await self.db.transaction(work)
        if isinstance(outcome, ZhifuError):
            raise outcome
        return outcome

    async def _open_session(self, conn: Conn, row: dict[str, Any], now: datetime) -> PortalSession:
        await conn.execute(
            """
            update merchant_login set last_login_at = %s where id = %s
            """,
            (now, row["id"]),
        )
        await conn.execute(
            "delete from merchant_portal_session where login_id = %s and expires_at <= %s",
            (row["id"], now),
        )
        token = secrets.token_urlsafe(32)
        expires_at = now + SESSION_LIFETIME
        await conn.execute(
            """
            insert into merchant_portal_session
                (token_hash, login_id, merchant_id, created_at, expires_at)
            values (%s, %s, %s, %s, %s)
            """,
            (token_hash(token), row["id"], row["merchant_id"], now, expires_at),
        )
        login = MerchantLogin(**{name: row[name] for name in _COLUMNS.split(", ")})
        return PortalSession(token=token, login=login, expires_at=expires_at)

    async def authenticate(self, token: str) -> PortalUser:
        """The login and merchant of a live portal session token."""
        row = await self.db.fetch_one(
            f"""
            select {_COLUMNS} from merchant_login where id = (
                select login_id from merchant_portal_session
                where token_hash = %s and expires_at > %s
            )
            """,
            (token_hash(token), self.clock.now()),
        )
        if row is None:
            raise Unauthorized("the portal session is unknown or has expired")
        login = MerchantLogin(**row)
        return PortalUser(login, await self.merchants.get(login.merchant_id))

    async def sign_out(self, token: str) -> None:
        async with self.db.connection() as conn:
            await conn.execute(
                "delete from merchant_portal_session where token_hash = %s", (token_hash(token),)
            )
