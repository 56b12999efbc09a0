"""The Alipay-compatible gateway (`/gateway.do`): checks a request's common parameters
and signature, runs the method, and answers with the signed response node.

Order of checks, each with Alipay's code: no parameter holds a control character
(40002 isv.invalid-parameter, zhifu.inputs); method present (40001) and known (40002);
app_id present and registered; sign and sign_type present and valid; timestamp present
and within the window; charset utf-8, GBK or GB2312 (charsets.py); format json; the
signature over the raw received values, encoded in the charset (40002
isv.invalid-signature); the app may call the method (40006); an app_auth_token comes
from an ISV app (40006) and is valid for it (20001), and then the call acts for the
merchant who authorised it. Then `biz_content` is decrypted if `encrypt_type` says so
(encryption.py), parsed (at most 64 deep, no control characters in its strings), and
the method runs.

Every answer, refusals included, is `{"<method>_response":{...},"sign":"..."}` signed
with the platform key over the exact bytes of the node in the request's charset, or
`error_response` when the method is missing or unknown. The answer to an encrypted
request is encrypted too: the node is the ciphertext, a JSON string, signed with its
quotes. The key is the one the app's merchant has configured (`PlatformKeys.for_app`: it
differs during a key rotation's grace period). The signature is of the request's
sign_type (the SDK verifies with the type it sends), else of the app's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from zhifu import inputs
from zhifu.clock import Clock
from zhifu.errors import ZhifuError
from zhifu.logging import get_logger
from zhifu.openplatform import charsets, encryption, errors
from zhifu.openplatform.apps import AUTHORISATION_METHODS, App, AppNotFound, AppService
from zhifu.openplatform.certificates import Certificates
from zhifu.openplatform.errors import GatewayError, invalid, missing
from zhifu.openplatform.keys import PlatformKeys
from zhifu.openplatform.signing import SIGN_TYPES, SignType, sign, verify_request

log = get_logger("zhifu.openplatform.gateway")

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
TIMESTAMP_WINDOW = timedelta(minutes=15)
# SDKs send the client's local wall-clock time without a zone. Alipay means GMT+8;
# merchant servers in containers often run on UTC: both readings are accepted.
TIMESTAMP_ZONES = (timezone(timedelta(hours=8)), UTC)
ERROR_NODE = "error_response"
_APP_ID = re.compile(r"[0-9]{16}")
_REQUIRED = (
    ("app_id", "isv.missing-app-id"),
    ("sign", "isv.missing-signature"),
    ("sign_type", "isv.missing-signature-type"),
    ("timestamp", "isv.missing-timestamp"),
    ("version", "isv.missing-version"),
)


@dataclass(frozen=True)
class Call:
    """One verified request: the calling app, its common parameters and biz_content."""

    app: App
    params: Mapping[str, str]
    biz: dict[str, Any] = field(default_factory=dict)
    # Where the request reached zhifu (`http://host:port/`): for links in answers.
    base_url: str = ""
    # The merchant an ISV app acts for with an app_auth_token; None: the app's own.
    acting_for: int | None = None
    # The app's AES key when the request came encrypted: the answer is encrypted with it.
    aes_key: bytes | None = None

    @property
    def merchant_id(self) -> int:
        """The merchant the call acts for: every handler works on this merchant's data."""
        return self.app.merchant_id if self.acting_for is None else self.acting_for


Handler = Callable[[Call], Awaitable[dict[str, Any]]]
# The merchant an ISV app acts for with an app_auth_token (authorisation.py), or a
# GatewayError.
Authoriser = Callable[[App, str], Awaitable[int]]


def response_node(method: str) -> str:
    return method.replace(".", "_") + "_response"


def _balanced(value: Any) -> Any:
    """fzlee's SDK finds the signed node by counting braces, ignoring strings: a text
    with unbalanced braces would break it, so such a text loses its braces."""
    if isinstance(value, str) and value.count("{") != value.count("}"):
        return value.replace("{", "").replace("}", "")
    return value


@dataclass(frozen=True)
class Answer:
    """A gateway answer as sent: the bytes of the document, in `charset`."""

    body: bytes
    charset: str

    @property
    def media_type(self) -> str:
        return f"application/json;charset={self.charset}"


def serialise(
    node: str,
    body: Mapping[str, Any],
    signer: Callable[[bytes], str],
    charset: str = charsets.UTF_8,
    aes_key: bytes | None = None,
    cert_sn: str | None = None,
) -> bytes:
    """The response document: the node serialised once (then encrypted, with a key),
    signed over exactly the bytes sent. In certificate mode `alipay_cert_sn` sits between
    the node and `sign`, as Alipay puts it (the SDKs that support that mode find the
    signed text that way)."""
    inner = charsets.encode(
        json.dumps(
            {key: _balanced(value) for key, value in body.items()},
            ensure_ascii=False,
            separators=(",", ":"),
        ),
        charset,
    )
    if aes_key is not None:
        inner = b'"%s"' % encryption.encrypt(inner, aes_key).encode("ascii")
    cert = b',"alipay_cert_sn":"%s"' % cert_sn.encode("ascii") if cert_sn else b""
    signature = signer(inner).encode("ascii")
    return b'{"%s":%s%s,"sign":"%s"}' % (node.encode("ascii"), inner, cert, signature)


def parse_biz_content(text: str | None) -> dict[str, Any]:
    """biz_content as a dict; JSON numbers stay text, so "88.888" and 88.888 are refused
    alike by the amount parser and nothing passes through a float."""
    if not text:
        return {}
    try:
        biz = json.loads(text, parse_float=str, parse_int=str)
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        raise errors.invalid_parameter("biz_content is not valid JSON") from None
    problem = inputs.json_unacceptable(biz)
    if problem == "depth":
        raise _too_deep()
    if problem == "characters":
        raise errors.invalid_parameter("biz_content holds a control character")
    if not isinstance(biz, dict):
        raise errors.invalid_parameter("biz_content must be a JSON object")
    return biz


def _too_deep() -> GatewayError:
    return errors.invalid_parameter(f"biz_content may nest at most {inputs.MAX_JSON_DEPTH} deep")


def check_characters(params: Mapping[str, str]) -> None:
    """No parameter may hold a character zhifu.inputs refuses (a NUL, say)."""
    for name, value in params.items():
        if inputs.unacceptable(name) or inputs.unacceptable(value):
            raise errors.invalid_parameter(f"{name[:40]} holds a control character")


class Gateway:
    def __init__(
        self,
        apps: AppService,
        keys: PlatformKeys,
        clock: Clock,
        handlers: Mapping[str, Handler],
        *,
        authoriser: Authoriser,
        aes_keys: encryption.AppAesKeys,
        certificates: Certificates | None = None,
    ) -> None:
        self.apps = apps
        self.aes_keys = aes_keys
        self.keys = keys
        self.clock = clock
        self.handlers = handlers
        self.authoriser = authoriser
        self.certificates = certificates

    async def handle(self, params: Mapping[str, str], base_url: str = "") -> Answer:
        """Answer one request (query and body parameters merged, url-decoded in the
        request's charset); `base_url` is where it arrived, for answers that carry a link."""
        method = params.get("method", "")
        node = response_node(method) if method in self.handlers else ERROR_NODE
        body, call = await self._answered(method, params, base_url)
        app_id = params.get("app_id", "")
        key = await self.keys.for_app(app_id)
        sign_type = await self._answer_sign_type(params.get("sign_type"), app_id)
        charset = charsets.answer_codec(params.get("charset"))
        document = serialise(
            node,
            body,
            lambda data: sign(data, key.private_key, sign_type),
            charset,
            aes_key=call.aes_key if call else None,
            cert_sn=await self._answer_cert_sn(params),
        )
        return Answer(document, charset)

    async def answer(self, params: Mapping[str, str], base_url: str = "") -> dict[str, Any]:
        """The answer unsigned, checked and run like `handle`: for the methods a browser
        calls, answered with a page (cashier.py)."""
        body, _ = await self._answered(params.get("method", ""), params, base_url)
        return body

    async def _answered(
        self, method: str, params: Mapping[str, str], base_url: str
    ) -> tuple[dict[str, Any], Call | None]:
        """The answer, and the verified call if the request got that far."""
        call = None
        try:
            call = replace(await self._verified_call(method, params), base_url=base_url)
            return await self.handlers[method](call), call
        except GatewayError as error:
            return error.to_dict(), call
        except ZhifuError as error:
            return errors.from_domain(error).to_dict(), call
        except Exception as error:  # no stack trace reaches a client, nor a secret the log
            log.error("gateway error", error=type(error).__name__, method=method[:64])
            failure = errors.failure(errors.UNAVAILABLE, "isp.unknow-error", "please retry later")
            return failure, call

    async def _answer_sign_type(self, asked: str | None, app_id: str) -> SignType:
        """The request's sign type; if it gave none that is valid, the app's."""
        given = next((kind for kind in SIGN_TYPES if kind == asked), None)
        if given is not None:
            return given
        if _APP_ID.fullmatch(app_id):
            try:
                return (await self.apps.get(app_id)).sign_type
            except AppNotFound:
                pass
        return "RSA2"

    async def _verified_call(self, method: str, params: Mapping[str, str]) -> Call:
        check_characters(params)
        self._check_method(method)
        for name, sub_code in _REQUIRED:
            if not params.get(name):
                raise missing(name, sub_code)
        app = await self._app(params["app_id"])
        self._check_common(params)
        if not verify_request(params, app.verifier()):
            raise invalid("isv.invalid-signature", "the signature does not verify")
        if self.certificates is not None:
            await self.certificates.check_request(
                app, params.get("app_cert_sn"), params.get("alipay_root_cert_sn")
            )
        acting_for = await self.authorise(app, method, params.get("app_auth_token"))
        aes_key = await self._aes_key(app, params.get("encrypt_type"))
        biz = parse_biz_content(self._plain_biz_content(params, aes_key))
        return Call(app, params, biz, acting_for=acting_for, aes_key=aes_key)

    async def _aes_key(self, app: App, encrypt_type: str | None) -> bytes | None:
        if not encrypt_type:
            return None
        if encrypt_type != encryption.ENCRYPT_TYPE:
            raise invalid("isv.invalid-encrypt-type", "encrypt_type must be AES")
        key = await self.aes_keys.get(app.app_id)
        if key is None:
            raise invalid(
                "isv.decryption-error-not-valid-encrypt-key",
                "this app has no AES key: zhifu app aes-key makes one",
            )
        return key

    @staticmethod
    def _plain_biz_content(params: Mapping[str, str], aes_key: bytes | None) -> str | None:
        text = params.get("biz_content")
        if aes_key is None or not text:
            return text
        try:
            return encryption.decrypt(text, aes_key).decode(
                charsets.answer_codec(params.get("charset"))
            )
        except (encryption.DecryptionError, UnicodeDecodeError):
            raise invalid(
                "isv.decryption-error-unknown",
                "biz_content does not decrypt with the app's AES key",
            ) from None

    def _check_method(self, method: str) -> None:
        if not method:
            raise missing("method", "isv.missing-method")
        if method not in self.handlers:
            raise invalid("isv.invalid-method", "unknown or unsupported method")

    async def _app(self, app_id: str) -> App:
        try:
            return await self.apps.get(app_id)
        except AppNotFound:
            raise invalid("isv.invalid-app-id", "no app with this app_id") from None

    def _check_common(self, params: Mapping[str, str]) -> None:
        if params["sign_type"] not in SIGN_TYPES:
            raise invalid("isv.invalid-signature-type", "sign_type must be RSA2 or RSA")
        if charsets.codec(params.get("charset")) is None:
            raise invalid("isv.invalid-charset", "charset must be utf-8, GBK or GB2312")
        if params.get("format", "json").lower() != "json":
            raise invalid("isv.invalid-format", "only format json is supported")
        if not self._timestamp_ok(params["timestamp"]):
            raise invalid(
                "isv.invalid-timestamp",
                "timestamp must be yyyy-MM-dd HH:mm:ss within 15 minutes of now",
            )

    def _timestamp_ok(self, text: str) -> bool:
        try:
            wall = datetime.strptime(text, TIMESTAMP_FORMAT)
        except ValueError:
            return False
        now = self.clock.now()
        return any(
            abs(wall.replace(tzinfo=zone) - now) <= TIMESTAMP_WINDOW for zone in TIMESTAMP_ZONES
        )

    def _check_permission(self, app: App, method: str) -> None:
        if not app.may_call(method):
            raise GatewayError(
                errors.INSUFFICIENT_PERMISSIONS,
                "isv.insufficient-isv-permissions",
                "this app may not call this method",
            )

    async def _acting_for(self, app: App, method: str, token: str | None) -> int | None:
        """The merchant whose app_auth_token an ISV app sent. The ISV's own authorisation
        methods ignore it (fzlee's ISVAliPay sends the old token along to refresh it)."""
        if not token or method in AUTHORISATION_METHODS:
            return None
        if not app.isv:
            raise GatewayError(
                errors.INSUFFICIENT_PERMISSIONS,
                "isv.insufficient-isv-permissions",
                "only a service provider's (ISV) app may send app_auth_token",
            )
        return await self.authoriser(app, token)

    # Shared with the v3 OpenAPI (v3.py), which signs and verifies in its own way.

    async def authorise(self, app: App, method: str, app_auth_token: str | None) -> int | None:
        """The app may call the method; the merchant it acts for (None: its own)."""
        self._check_permission(app, method)
        return await self._acting_for(app, method, app_auth_token)

    async def _answer_cert_sn(self, params: Mapping[str, str]) -> str | None:
        """`alipay_cert_sn` for a request in certificate mode, None otherwise."""
        if self.certificates is None or not params.get("app_cert_sn"):
            return None
        return await self.certificates.answer_sn(params.get("app_id"))
