"""Alipay's v3 OpenAPI (`/v3/alipay/trade/...`): JSON in and out, signed in headers.

The same methods as `gateway.do`, run by the same handlers (trade_methods.py): a v3 call
becomes a gateway `Call` whose biz is the JSON body (or, for GET, the query), and the
handler's answer loses `code`/`msg` and becomes the JSON body.

A request carries, as Ant's Node SDK sends it (`AlipaySdk.#curl` in src/alipay.ts):

    Authorization: ALIPAY-SHA256withRSA app_id=..,[app_cert_sn=..,]nonce=..,timestamp=..,sign=..

where `timestamp` is milliseconds since the epoch and `sign` is SHA256withRSA, with the
app's key, over

    <auth string: everything between the scheme and ",sign=">\\n<HTTP verb>\\n
    <path and query as sent>\\n<body as sent>\\n[<alipay-app-auth-token header>\\n]

An answer carries `alipay-timestamp`, `alipay-nonce` and `alipay-signature`: SHA256withRSA
with the platform key over `<timestamp>\\n<nonce>\\n<body>\\n`, which the SDK verifies
with the "alipay public key"; in certificate mode (`app_cert_sn` in the auth string and
an `alipay-root-cert-sn` header) also `alipay-sn`, the platform certificate's SN.

Refusals are HTTP 4xx/5xx with `{"code": ..., "message": ...}`: the code is the v1
sub_code without its `isv.`/`aop.`/`isp.`/`ACQ.` prefix (`invalid-signature`,
`TRADE_NOT_EXIST`). Replays: a timestamp must be within `WINDOW` of now and a nonce is
accepted once per app, remembered in the database until its timestamp leaves the window.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from zhifu.clock import Clock
from zhifu.db.database import Database
from zhifu.errors import ZhifuError
from zhifu.logging import get_logger
from zhifu.openplatform import errors
from zhifu.openplatform.apps import App, AppNotFound
from zhifu.openplatform.errors import GatewayError
from zhifu.openplatform.gateway import Call, Gateway, check_characters, parse_biz_content
from zhifu.openplatform.signing import sign, verify

log = get_logger("zhifu.openplatform.v3")

SCHEME = "ALIPAY-SHA256withRSA"
WINDOW = timedelta(minutes=5)
# A nonce is remembered, so it is short and plain: the SDK sends a UUID.
_NONCE = re.compile(r"[!-+\--~]{1,64}")  # printable ASCII but the comma
_APP_ID = re.compile(r"[0-9]{16}")
# The v3 path of each supported method, and the HTTP verbs it answers.
METHODS: dict[str, tuple[str, tuple[str, ...]]] = {
    "/v3/alipay/trade/precreate": ("alipay.trade.precreate", ("POST",)),
    "/v3/alipay/trade/pay": ("alipay.trade.pay", ("POST",)),
    "/v3/alipay/trade/create": ("alipay.trade.create", ("POST",)),
    "/v3/alipay/trade/query": ("alipay.trade.query", ("GET", "POST")),
    "/v3/alipay/trade/refund": ("alipay.trade.refund", ("POST",)),
    "/v3/alipay/trade/fastpay/refund/query": ("alipay.trade.fastpay.refund.query", ("POST",)),
    "/v3/alipay/trade/close": ("alipay.trade.close", ("POST",)),
    "/v3/alipay/trade/cancel": ("alipay.trade.cancel", ("POST",)),
}
_PREFIXES = ("isv.", "aop.", "isp.", "ACQ.")
# v1 codes whose refusals are about who is calling (HTTP 401), not what was asked (400).
_UNAUTHORISED = {
    "invalid-app-id",
    "invalid-signature",
    "invalid-timestamp",
    "invalid-nonce",
    "invalid-authorization",
    "missing-authorization",
    "invalid-app-cert-sn",
    "missing-app-cert-sn",
    "invalid-alipay-root-cert-sn",
    "missing-alipay-root-cert-sn",
}
_STATUS = {
    errors.MISSING_ARGUMENTS: 400,
    errors.INVALID_ARGUMENTS: 400,
    errors.BUSINESS_FAILED: 400,
    errors.INSUFFICIENT_PERMISSIONS: 403,
    errors.INSUFFICIENT_TOKEN_PERMISSIONS: 401,
    errors.UNAVAILABLE: 500,
}


@dataclass(frozen=True)
class V3Request:
    """One request as received: the verb, the path and query exactly as sent, the raw
    body and the headers (lower-case names)."""

    verb: str
    target: str
    query: Mapping[str, str]
    body: bytes
    headers: Mapping[str, str]
    base_url: str = ""


@dataclass(frozen=True)
class V3Answer:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Authorization:
    """The parsed `Authorization` header; `signed` is the auth string the sign covers."""

    signed: str
    fields: Mapping[str, str]
    signature: str
    sent_at: datetime

    @classmethod
    def parse(cls, header: str | None) -> Authorization:
        if not header:
            raise _refusal("missing-authorization", "the Authorization header is missing")
        scheme, _, rest = header.partition(" ")
        signed, marker, signature = rest.rpartition(",sign=")
        if scheme != SCHEME or not marker or not signature:
            raise _refusal(
                "invalid-authorization", f"Authorization must be {SCHEME} <auth string>,sign=.."
            )
        fields = dict(part.partition("=")[::2] for part in signed.split(","))
        for name in ("app_id", "nonce", "timestamp"):
            if not fields.get(name):
                raise _refusal("invalid-authorization", f"the auth string has no {name}")
        if not _APP_ID.fullmatch(fields["app_id"]):
            raise _refusal("invalid-app-id", "app_id is 16 digits")
        if not _NONCE.fullmatch(fields["nonce"]):
            raise _refusal("invalid-nonce", "a nonce is 1 to 64 printable ASCII characters")
        return cls(signed, fields, signature, _moment(fields["timestamp"]))


def _moment(text: str) -> datetime:
    if not text.isdigit() or len(text) > 13:  # milliseconds: 13 digits until 2286
        raise _refusal("invalid-timestamp", "timestamp must be milliseconds since the epoch")
    return datetime.fromtimestamp(int(text) / 1000, UTC)


def _refusal(code: str, message: str) -> GatewayError:
    return errors.invalid(f"isv.{code}", message)


def signed_text(request: V3Request, auth: Authorization) -> str:
    """What the client signed (see the module docstring)."""
    body = request.body.decode("utf-8", "replace")  # not UTF-8: the signature fails
    text = f"{auth.signed}\n{request.verb}\n{request.target}\n{body}\n"
    token = request.headers.get("alipay-app-auth-token")
    return text + f"{token}\n" if token else text


def v3_code(sub_code: str) -> str:
    for prefix in _PREFIXES:
        if sub_code.startswith(prefix):
            return sub_code[len(prefix) :]
    return sub_code


def status_of(error: GatewayError) -> int:
    code = v3_code(error.sub_code)
    if code in _UNAUTHORISED:
        return 401
    if code == "TRADE_NOT_EXIST":
        return 404
    return _STATUS.get(error.code, 400)


class Nonces:
    """Each app's v3 nonces, kept until their request's timestamp leaves the window."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def first_use(self, app_id: str, nonce: str, expires_at: datetime, now: datetime) -> bool:
        async with self.db.connection() as conn:
            await conn.execute(
                "delete from open_api_nonce where app_id = %s and expires_at < %s", (app_id, now)
            )
            cur = await conn.execute(
                """
                insert into open_api_nonce (app_id, nonce, expires_at) values (%s, %s, %s)
                on conflict do nothing returning nonce
                """,
                (app_id, nonce, expires_at),
            )
            return await cur.fetchone() is not None


class V3Gateway:
    def __init__(self, gateway: Gateway, db: Database, clock: Clock) -> None:
        self.gateway = gateway
        self.clock = clock
        self.nonces = Nonces(db)

    async def handle(self, method: str, request: V3Request) -> V3Answer:
        """Answer one v3 request for the gateway method `method`."""
        auth: Authorization | None = None
        try:
            auth = Authorization.parse(request.headers.get("authorization"))
            call = await self._verified_call(method, request, auth)
            status, body = 200, _success_body(await self.gateway.handlers[method](call))
        except GatewayError as error:
            status, body = status_of(error), _error_body(error)
        except ZhifuError as error:
            refusal = errors.from_domain(error)
            status, body = status_of(refusal), _error_body(refusal)
        except Exception as error:  # no stack trace reaches a client, nor a secret the log
            log.error("v3 gateway error", error=type(error).__name__, method=method)
            status, body = 500, {"code": "unknow-error", "message": "please retry later"}
        return await self._signed(status, body, request, auth)

    async def _verified_call(self, method: str, request: V3Request, auth: Authorization) -> Call:
        # the authorisation's own fields are checked as they are read
        check_characters({k: v for k, v in request.headers.items() if k != "authorization"})
        app = await self._app(auth.fields["app_id"])
        if not verify(signed_text(request, auth).encode(), auth.signature, app.verifier(), "RSA2"):
            raise _refusal("invalid-signature", "the signature does not verify")
        await self._check_replay(app, auth)
        certificates = self.gateway.certificates
        if certificates is not None:
            await certificates.check_request(
                app, auth.fields.get("app_cert_sn"), request.headers.get("alipay-root-cert-sn")
            )
        token = request.headers.get("alipay-app-auth-token")
        acting_for = await self.gateway.authorise(app, method, token)
        biz = _biz(request)
        params = {"app_id": app.app_id, "method": method}
        if isinstance(biz.get("notify_url"), str):  # a v1 common parameter, here in the body
            params["notify_url"] = biz["notify_url"]
        return Call(app, params, biz, base_url=request.base_url, acting_for=acting_for)

    async def _app(self, app_id: str) -> App:
        try:
            return await self.gateway.apps.get(app_id)
        except AppNotFound:
            raise _refusal("invalid-app-id", "no app with this app_id") from None

    async def _check_replay(self, app: App, auth: Authorization) -> None:
        now, sent = self.clock.now(), auth.sent_at
        if abs(sent - now) > WINDOW:
            raise _refusal("invalid-timestamp", "timestamp is more than 5 minutes from now")
        nonce = auth.fields["nonce"]
        if not await self.nonces.first_use(app.app_id, nonce, sent + WINDOW, now):
            raise _refusal("invalid-nonce", "this nonce was used before: a replayed request")

    async def _signed(
        self, status: int, body: dict[str, Any], request: V3Request, auth: Authorization | None
    ) -> V3Answer:
        app_id = auth.fields.get("app_id") if auth else None
        key = await self.gateway.keys.for_app(app_id)
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        timestamp = str(int(self.clock.now().timestamp() * 1000))
        nonce = str(uuid.uuid4())
        signature = sign(f"{timestamp}\n{nonce}\n{text}\n".encode(), key.private_key, "RSA2")
        headers = {
            "alipay-timestamp": timestamp,
            "alipay-nonce": nonce,
            "alipay-signature": signature,
            "alipay-trace-id": request.headers.get("alipay-request-id", "")[:64] or nonce,
        }
        certificates = self.gateway.certificates
        if certificates is not None and auth is not None and auth.fields.get("app_cert_sn"):
            headers["alipay-sn"] = await certificates.answer_sn(app_id)
        return V3Answer(status, text, headers)


def _biz(request: V3Request) -> dict[str, Any]:
    if request.verb == "GET":
        check_characters(request.query)
        return dict(request.query)
    if request.headers.get("alipay-encrypt-type"):
        raise errors.invalid("isv.invalid-encrypt-type", "encrypted v3 bodies are not supported")
    try:
        text = request.body.decode()
    except UnicodeDecodeError:
        raise errors.invalid_parameter("the body must be UTF-8 JSON") from None
    return parse_biz_content(text)


def _success_body(answer: dict[str, Any]) -> dict[str, Any]:
    """A handler's answer without the v1 envelope. 10003 (waiting for the buyer's PIN)
    is a success here too: `trade_status` says WAIT_BUYER_PAY."""
    if answer.get("sub_code"):
        raise GatewayError(answer["code"], answer["sub_code"], answer.get("sub_msg", ""))
    return {name: value for name, value in answer.items() if name not in ("code", "msg")}


def _error_body(error: GatewayError) -> dict[str, Any]:
    return {"code": v3_code(error.sub_code), "message": error.sub_msg}
