"""Service providers (ISV) acting for merchants, the way Alipay's app authorisation works.

A merchant grants an ISV app a one-time `app_auth_code` (REST API, valid 10 minutes).
The ISV exchanges it through `alipay.open.auth.token.app` for an `app_auth_token` (valid
a year) and an `app_refresh_token` (372 days). A gateway call from that app carrying the
token acts for the merchant. A refresh replaces both tokens; the merchant may revoke at
any time. zhifu keeps only the SHA-256 of codes and tokens.

There is one authorisation per merchant and app, holding one token pair at a time. It
walks granted -> valid -> revoked, and back to granted when the merchant grants the app
again; exchanging a new code replaces the token pair.

`auth_app_id` is the merchant's own (oldest non-ISV) app when it has one, else the ISV's
app. `user_id` is the merchant's id in Alipay's form, `2088` and 12 digits.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from zhifu.clock import Clock
from zhifu.db.database import Conn, Database
from zhifu.errors import InvalidRequest, NotFound, SandboxMismatch
from zhifu.merchants import Merchant
from zhifu.openplatform import errors
from zhifu.openplatform.apps import AUTHORISATION_METHODS, App, AppService
from zhifu.openplatform.errors import GatewayError, invalid, invalid_parameter
from zhifu.openplatform.gateway import Call, Handler
from zhifu.openplatform.trade_methods import alipay_time, success, text
from zhifu.openplatform.trade_methods import buyer_id as alipay_user_id
from zhifu.states import transition

CODE_LIFETIME = timedelta(minutes=10)
TOKEN_LIFETIME = timedelta(days=365)
REFRESH_LIFETIME = timedelta(days=372)
_COLUMNS = """id, merchant_id, app_id, state, auth_app_id, token_expires_at,
    refresh_expires_at, auth_start, created_at, updated_at"""


class AuthorisationState(StrEnum):
    GRANTED = "granted"  # a code is out, not yet exchanged
    VALID = "valid"  # the ISV holds a token
    REVOKED = "revoked"


class AuthorisationEvent(StrEnum):
    GRANT = "grant"
    EXCHANGE = "exchange"
    REFRESH = "refresh"
    REVOKE = "revoke"


_S, _E = AuthorisationState, AuthorisationEvent
TRANSITIONS: dict[tuple[AuthorisationState, AuthorisationEvent], AuthorisationState] = {
    (_S.GRANTED, _E.GRANT): _S.GRANTED,
    (_S.VALID, _E.GRANT): _S.VALID,
    (_S.REVOKED, _E.GRANT): _S.GRANTED,
    (_S.GRANTED, _E.EXCHANGE): _S.VALID,
    (_S.VALID, _E.EXCHANGE): _S.VALID,
    (_S.VALID, _E.REFRESH): _S.VALID,
    (_S.GRANTED, _E.REVOKE): _S.REVOKED,
    (_S.VALID, _E.REVOKE): _S.REVOKED,
}


class NotAnIsvApp(InvalidRequest):
    code = "app_not_isv"
    title = "Not a service provider's app"


class AuthorisationNotFound(NotFound):
    code = "authorisation_not_found"
    title = "Authorisation not found"


def code_invalid(why: str) -> GatewayError:
    return invalid("isv.code-invalid", why)


def token_refused(sub_code: str, why: str) -> GatewayError:
    return GatewayError(errors.INSUFFICIENT_TOKEN_PERMISSIONS, sub_code, why)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _seconds(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds()))


@dataclass(frozen=True, slots=True)
class Authorisation:
    id: int
    merchant_id: int
    app_id: str
    state: AuthorisationState
    auth_app_id: str | None
    token_expires_at: datetime | None
    refresh_expires_at: datetime | None
    auth_start: datetime | None
    created_at: datetime
    updated_at: datetime

    def usable_at(self, moment: datetime) -> bool:
        expires = self.token_expires_at
        return self.state == AuthorisationState.VALID and expires is not None and moment < expires

    def to_dict(self) -> dict[str, Any]:
        """What the merchant sees: never a token."""
        expires = self.token_expires_at
        return {
            "app_id": self.app_id,
            "state": self.state,
            "auth_app_id": self.auth_app_id,
            "expires_at": expires.isoformat() if expires else None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class GrantedCode:
    app_id: str
    app_auth_code: str
    expires_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "app_auth_code": self.app_auth_code,
            "expires_at": self.expires_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    app_auth_token: str
    app_refresh_token: str
    authorisation: Authorisation

    def to_fields(self) -> dict[str, Any]:
        """Alipay's flat form (what fzlee's ISVAliPay reads)."""
        return {
            "app_auth_token": self.app_auth_token,
            "app_refresh_token": self.app_refresh_token,
            "auth_app_id": self.authorisation.auth_app_id,
            "user_id": alipay_user_id(self.authorisation.merchant_id),
            "expires_in": _seconds(TOKEN_LIFETIME),
            "re_expires_in": _seconds(REFRESH_LIFETIME),
        }


def _authorisation(row: dict[str, Any]) -> Authorisation:
    return Authorisation(**{**row, "state": AuthorisationState(row["state"])})


class AppAuthorisations:
    """Merchants' authorisations of ISV apps: codes, tokens, revocation."""

    def __init__(self, db: Database, clock: Clock, apps: AppService) -> None:
        self.db = db
        self.clock = clock
        self.apps = apps

    async def grant(self, merchant: Merchant, app_id: str) -> GrantedCode:
        """A new one-time code for the ISV app; it replaces any unused earlier one."""
        app = await self.apps.get(app_id)
        if not app.isv:
            raise NotAnIsvApp(
                "only a service provider's (ISV) app can be authorised", app_id=app_id
            )
        if app.sandbox != merchant.sandbox:
            raise SandboxMismatch("live and sandbox apps act only for their own kind of merchant")
        code, now = secrets.token_hex(16), self.clock.now()

        async def work(conn: Conn) -> None:
            await conn.execute(
                """
                insert into app_authorisation (merchant_id, app_id, state, created_at, updated_at)
                values (%s, %s, 'granted', %s, %s)
                on conflict (merchant_id, app_id) do nothing
                """,
                (merchant.id, app_id, now, now),
            )
            found = await self._locked(
                conn, "merchant_id = %s and app_id = %s", merchant.id, app_id
            )
            assert found is not None
            await self._step(conn, found, AuthorisationEvent.GRANT)
            await conn.execute("delete from app_auth_code where authorisation_id = %s", (found.id,))
            await conn.execute(
                "insert into app_auth_code (code_hash, authorisation_id, expires_at) "
                "values (%s, %s, %s)",
                (digest(code), found.id, now + CODE_LIFETIME),
            )

        await self.db.transaction(work)
        return GrantedCode(app_id, code, now + CODE_LIFETIME)

    async def list_granted(self, merchant_id: int) -> list[Authorisation]:
        rows = await self.db.fetch_all(
            f"select {_COLUMNS} from app_authorisation where merchant_id = %s order by id",
            (merchant_id,),
        )
        return [_authorisation(row) for row in rows]

    async def revoke(self, merchant_id: int, app_id: str) -> None:
        """Revoke at once: the token and any unused code stop working (again: no change)."""

        async def work(conn: Conn) -> None:
            found = await self._locked(
                conn, "merchant_id = %s and app_id = %s", merchant_id, app_id
            )
            if found is None:
                raise AuthorisationNotFound("you have not authorised this app", app_id=app_id)
            if found.state != AuthorisationState.REVOKED:
                await self._step(conn, found, AuthorisationEvent.REVOKE)
                await conn.execute(
                    "delete from app_auth_code where authorisation_id = %s", (found.id,)
                )

        await self.db.transaction(work)

    async def exchange(self, app: App, code: str) -> IssuedTokens:
        """alipay.open.auth.token.app with grant_type authorization_code."""

        async def work(conn: Conn) -> IssuedTokens:
            # The authorisation first, then its code: grant and revoke lock in this order.
            found = await self._locked(
                conn,
                "id = (select authorisation_id from app_auth_code where code_hash = %s)",
                digest(code),
            )
            cur = await conn.execute(
                "select expires_at, used_at from app_auth_code where code_hash = %s for update",
                (digest(code),),
            )
            row = await cur.fetchone()
            if row is None or found is None or found.app_id != app.app_id:
                raise code_invalid("unknown app_auth_code, or not granted to this app")
            if row["used_at"] is not None:
                raise code_invalid("this app_auth_code was already used")
            if row["expires_at"] <= self.clock.now():
                raise code_invalid("this app_auth_code has expired: ask the merchant again")
            await conn.execute(
                "update app_auth_code set used_at = %s where code_hash = %s",
                (self.clock.now(), digest(code)),
            )
            return await self._issue(conn, found, AuthorisationEvent.EXCHANGE)

        return await self.db.transaction(work)

    async def refresh(self, app: App, refresh_token: str) -> IssuedTokens:
        """alipay.open.auth.token.app with grant_type refresh_token: a new pair; the old
        token and refresh token stop working."""

        async def work(conn: Conn) -> IssuedTokens:
            found = await self._locked(conn, "refresh_token_hash = %s", digest(refresh_token))
            if found is None or found.app_id != app.app_id:
                raise invalid("isv.refresh-token-invalid", "unknown or replaced app_refresh_token")
            if found.state != AuthorisationState.VALID:
                raise invalid(
                    "isv.refresh-token-invalid", "the merchant revoked this authorisation"
                )
            assert found.refresh_expires_at is not None
            if found.refresh_expires_at <= self.clock.now():
                raise invalid("isv.refresh-token-time-out", "the app_refresh_token has expired")
            return await self._issue(conn, found, AuthorisationEvent.REFRESH)

        return await self.db.transaction(work)

    async def by_token(self, app: App, token: str) -> Authorisation:
        """The authorisation of this app's token, whatever its state."""
        row = await self.db.fetch_one(
            f"select {_COLUMNS} from app_authorisation where token_hash = %s", (digest(token),)
        )
        if row is None or row["app_id"] != app.app_id:
            raise token_refused(
                "aop.invalid-app-auth-token", "unknown app_auth_token, or not issued to this app"
            )
        return _authorisation(row)

    async def merchant_for(self, app: App, token: str) -> int:
        """The merchant an ISV app acts for with this token (the gateway's Authoriser)."""
        found = await self.by_token(app, token)
        if found.state != AuthorisationState.VALID:
            raise token_refused(
                "aop.invalid-app-auth-token", "the merchant revoked this authorisation"
            )
        if not found.usable_at(self.clock.now()):
            raise token_refused(
                "aop.app-auth-token-time-out", "the app_auth_token has expired: refresh it"
            )
        return found.merchant_id

    async def _locked(self, conn: Conn, where: str, *params: Any) -> Authorisation | None:
        query = f"select {_COLUMNS} from app_authorisation where {where} for update"
        row = await (await conn.execute(query, params)).fetchone()
        return None if row is None else _authorisation(row)

    async def _step(self, conn: Conn, found: Authorisation, event: AuthorisationEvent) -> None:
        state = transition(TRANSITIONS, found.state, event, "an app authorisation")
        await conn.execute(
            "update app_authorisation set state = %s, updated_at = %s where id = %s",
            (state, self.clock.now(), found.id),
        )

    async def _issue(
        self, conn: Conn, found: Authorisation, event: AuthorisationEvent
    ) -> IssuedTokens:
        """A new token pair in place of the old one (exchange or refresh)."""
        state = transition(TRANSITIONS, found.state, event, "an app authorisation")
        token, refresh, now = secrets.token_hex(20), secrets.token_hex(20), self.clock.now()
        exchanged = event == AuthorisationEvent.EXCHANGE  # a new start; a refresh keeps it
        auth_start = now if exchanged else found.auth_start
        auth_app_id = await self._auth_app_id(conn, found) if exchanged else found.auth_app_id
        cur = await conn.execute(
            f"""
            update app_authorisation set state = %s, token_hash = %s, refresh_token_hash = %s,
                token_expires_at = %s, refresh_expires_at = %s, updated_at = %s,
                auth_start = %s, auth_app_id = %s
            where id = %s returning {_COLUMNS}
            """,
            (state, digest(token), digest(refresh), now + TOKEN_LIFETIME,
             now + REFRESH_LIFETIME, now, auth_start, auth_app_id, found.id),
        )  # fmt: skip
        row = await cur.fetchone()
        assert row is not None
        return IssuedTokens(token, refresh, _authorisation(row))

    async def _auth_app_id(self, conn: Conn, found: Authorisation) -> str:
        cur = await conn.execute(
            "select app_id from open_app where merchant_id = %s and not isv order by id limit 1",
            (found.merchant_id,),
        )
        own = await cur.fetchone()
        return str(own["app_id"]) if own else found.app_id


class AuthorisationMethods:
    """The gateway methods of an ISV's own authorisations (they ignore a common
    app_auth_token: fzlee's ISVAliPay sends the old token along when refreshing it)."""

    def __init__(self, authorisations: AppAuthorisations, clock: Clock) -> None:
        self.authorisations = authorisations
        self.clock = clock

    def handlers(self) -> dict[str, Handler]:
        token, query = AUTHORISATION_METHODS
        return {token: self.token, query: self.query}

    async def token(self, call: Call) -> dict[str, Any]:
        """alipay.open.auth.token.app: a code or a refresh token for a token pair."""
        _require_isv(call.app)
        grant_type = call.biz.get("grant_type")
        if grant_type == "authorization_code":
            issued = await self.authorisations.exchange(call.app, text(call.biz, "code"))
        elif grant_type == "refresh_token":
            refresh = text(call.biz, "refresh_token")
            issued = await self.authorisations.refresh(call.app, refresh)
        else:
            raise invalid_parameter("grant_type must be authorization_code or refresh_token")
        fields = issued.to_fields()
        return success(**fields, tokens=[fields])

    async def query(self, call: Call) -> dict[str, Any]:
        """alipay.open.auth.token.app.query: what a token allows, and whether it still does."""
        _require_isv(call.app)
        found = await self.authorisations.by_token(call.app, text(call.biz, "app_auth_token"))
        now = self.clock.now()
        fields: dict[str, Any] = {
            "user_id": alipay_user_id(found.merchant_id),
            "auth_app_id": found.auth_app_id,
            "expires_in": _seconds(found.token_expires_at - now) if found.token_expires_at else 0,
            "auth_methods": [m for m in call.app.allowed_methods if m not in AUTHORISATION_METHODS],
            "status": "valid" if found.usable_at(now) else "invalid",
        }
        if found.auth_start is not None and found.token_expires_at is not None:
            fields |= {
                "auth_start": alipay_time(found.auth_start),
                "auth_end": alipay_time(found.token_expires_at),
            }
        return success(**fields)


def _require_isv(app: App) -> None:
    if not app.isv:
        raise GatewayError(
            errors.INSUFFICIENT_PERMISSIONS,
            "isv.insufficient-isv-permissions",
            "only a service provider's (ISV) app may call this method",
        )
