"""Apps: what calls the gateway. An app has a 16-digit `app_id` like Alipay's, belongs to
a merchant, holds the app's RSA public key (requests are verified with it) and the list
of methods it may call, and how it signs (`sign_type`: RSA2, or the legacy RSA): zhifu
signs the app's notifications and return parameters the same way.

A service provider's (ISV) app (`isv`) may also act for the merchants that authorised it,
with an app_auth_token (see authorisation.py). Each app is pinned to the platform key its
merchant has configured (`platform_key_id`, see keys.py): a new app to the newest key.
A sandbox app belongs to a sandbox merchant, so it moves only sandbox money.

An app's fields never change once registered, so each process keeps the apps it has
read (the gateway looks its caller up on every request).
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from zhifu.clock import Clock
from zhifu.db.database import Conn, Database
from zhifu.errors import InvalidRequest, NotFound
from zhifu.openplatform.signing import SIGN_TYPES, SignType, load_public_key, public_pem

# An ISV app's own authorisations (authorisation.py): they never act for a merchant.
AUTHORISATION_METHODS = ("alipay.open.auth.token.app", "alipay.open.auth.token.app.query")
# The gateway methods built so far; a new app may call all of them unless told otherwise.
SUPPORTED_METHODS = (
    "alipay.trade.precreate",
    "alipay.trade.pay",
    "alipay.trade.create",
    "alipay.trade.query",
    "alipay.trade.refund",
    "alipay.trade.fastpay.refund.query",
    "alipay.trade.close",
    "alipay.trade.cancel",
    "alipay.trade.page.pay",
    "alipay.trade.wap.pay",
    "alipay.trade.app.pay",
    "alipay.fund.trans.uni.transfer",
    "alipay.fund.trans.common.query",
    "alipay.fund.trans.order.query",
    "alipay.data.dataservice.bill.downloadurl.query",
    *AUTHORISATION_METHODS,
)
APP_ID_PREFIX = "2021"
_COLUMNS = "app_id, merchant_id, isv, sandbox, public_key, allowed_methods, sign_type, created_at"


_CACHED_APPS = 100_000  # past this the cache starts over
_public_key = functools.lru_cache(maxsize=4096)(load_public_key)


class AppNotFound(NotFound):
    code = "app_not_found"
    title = "App not found"


@dataclass(frozen=True, slots=True)
class App:
    app_id: str
    merchant_id: int
    isv: bool
    sandbox: bool
    public_key: str
    allowed_methods: tuple[str, ...]
    sign_type: SignType
    created_at: datetime

    def verifier(self) -> rsa.RSAPublicKey:
        return _public_key(self.public_key)

    def may_call(self, method: str) -> bool:
        return method in self.allowed_methods

    def to_dict(self) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "merchant_id": self.merchant_id,
            "isv": self.isv,
            "sandbox": self.sandbox,
            "public_key": self.public_key,
            "allowed_methods": list(self.allowed_methods),
            "sign_type": self.sign_type,
            "created_at": self.created_at.isoformat(),
        }


def _app(row: dict[str, Any]) -> App:
    return App(**{**row, "allowed_methods": tuple(row["allowed_methods"])})


def _checked_methods(methods: Iterable[str] | None) -> list[str]:
    chosen = list(SUPPORTED_METHODS if methods is None else methods)
    unknown = sorted(set(chosen) - set(SUPPORTED_METHODS))
    if unknown:
        raise InvalidRequest(f"unsupported methods: {', '.join(unknown)}", methods=unknown)
    return chosen


def new_app_id() -> str:
    return f"{APP_ID_PREFIX}{secrets.randbelow(10**12):012d}"


class AppService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._apps: dict[str, App] = {}

    async def create(
        self,
        merchant_id: int,
        public_key: str,
        *,
        methods: Iterable[str] | None = None,
        sandbox: bool = False,
        isv: bool = False,
        sign_type: str = "RSA2",
    ) -> App:
        """Register an app for the merchant with the app's RSA public key (stored as SPKI)."""
        spki = public_pem(load_public_key(public_key))
        chosen = _checked_methods(methods)
        if sign_type not in SIGN_TYPES:
            raise InvalidRequest("sign_type is RSA2 or RSA", sign_type=sign_type[:16])
        while True:  # a fresh random app_id collides about never; retry if it does
            row = await self._insert(
                f"""
                insert into open_app (app_id, merchant_id, isv, sandbox, public_key,
                                      allowed_methods, sign_type, created_at, platform_key_id)
                values (%s, %s, %s, %s, %s, %s, %s, %s,
                        (select id from platform_key where retires_at is null))
                on conflict (app_id) do nothing
                returning {_COLUMNS}
                """,
                (
                    new_app_id(),
                    merchant_id,
                    isv,
                    sandbox,
                    spki,
                    chosen,
                    sign_type,
                    self.clock.now(),
                ),
            )
            if row is not None:
                return _app(row)

    async def _insert(self, query: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        async def work(conn: Conn) -> dict[str, Any] | None:
            cur = await conn.execute(query, params)
            return await cur.fetchone()

        return await self.db.transaction(work)

    async def get(self, app_id: str) -> App:
        if app_id in self._apps:
            return self._apps[app_id]
        query = f"select {_COLUMNS} from open_app where app_id = %s"
        row = await self.db.fetch_one(query, (app_id,))
        if row is None:
            raise AppNotFound("no such app", app_id=app_id[:32])
        if len(self._apps) >= _CACHED_APPS:
            self._apps.clear()
        app = self._apps[app_id] = _app(row)
        return app
