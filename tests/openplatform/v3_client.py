"""A v3 OpenAPI client for tests, re-implemented from Ant's Node SDK (npm `alipay-sdk`
4.x, `AlipaySdk.#curl` in src/alipay.ts and `signatureV3`/`verifySignatureV3` in
src/util.ts), independent of zhifu's code:

- authString `app_id=..[,app_cert_sn=..],nonce=<uuid>,timestamp=<ms>`;
- signed `${authString}\\n${METHOD}\\n${path and query}\\n${body}\\n` (+ `${token}\\n` with an
  app auth token, also sent as `alipay-app-auth-token`), SHA256withRSA, base64;
- header `Authorization: ALIPAY-SHA256withRSA ${authString},sign=${signature}`, and
  `alipay-root-cert-sn` in certificate mode;
- the body is `JSON.stringify(body)` (compact, the caller's key order, raw UTF-8);
- an answer below 400 is verified over `${alipay-timestamp}\\n${alipay-nonce}\\n${body}\\n`
  with the alipay public key, and `alipay-sn` must equal the configured alipay cert SN.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def sign_v3(text: str, key: rsa.RSAPrivateKey) -> str:
    return base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


@dataclass
class V3Reply:
    status: int
    data: dict[str, Any]
    headers: httpx.Headers


@dataclass
class V3TestClient:
    http: httpx.AsyncClient
    app_id: str
    private_key: rsa.RSAPrivateKey
    platform_key: rsa.RSAPublicKey
    app_cert_sn: str | None = None
    root_cert_sn: str | None = None
    alipay_cert_sn: str | None = None

    def authorization(
        self,
        verb: str,
        target: str,
        body: str,
        *,
        nonce: str | None = None,
        timestamp_ms: int | None = None,
        token: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        auth = f"app_id={self.app_id}"
        if self.app_cert_sn:
            auth += f",app_cert_sn={self.app_cert_sn}"
        stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        auth += f",nonce={nonce or uuid.uuid4()},timestamp={stamp}"
        text = f"{auth}\n{verb}\n{target}\n{body}\n" + (f"{token}\n" if token else "")
        return f"ALIPAY-SHA256withRSA {auth},sign={sign_v3(text, key or self.private_key)}"

    async def send(
        self,
        verb: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        query: dict[str, str] | None = None,
        authorization: str | None = None,
        token: str | None = None,
        **signing: Any,
    ) -> httpx.Response:
        target = f"{path}?{urlencode(query)}" if query else path
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":")) if body else ""
        headers = {"accept": "application/json", "alipay-request-id": uuid.uuid4().hex}
        if body is not None:
            headers["content-type"] = "application/json"
        if token:
            headers["alipay-app-auth-token"] = token
        if self.root_cert_sn:
            headers["alipay-root-cert-sn"] = self.root_cert_sn
        headers["authorization"] = authorization or self.authorization(
            verb, target, text, token=token, **signing
        )
        return await self.http.request(verb, target, content=text.encode(), headers=headers)

    async def curl(self, verb: str, path: str, **options: Any) -> V3Reply:
        """Like the SDK's curl(): verified data below 400, the error JSON otherwise."""
        response = await self.send(verb, path, **options)
        if response.status_code < 400:
            self.verify(response)
        return V3Reply(response.status_code, response.json(), response.headers)

    def verify(self, response: httpx.Response) -> None:
        headers = response.headers
        if headers.get("alipay-sn") and self.alipay_cert_sn:
            assert headers["alipay-sn"] == self.alipay_cert_sn
        text = f"{headers['alipay-timestamp']}\n{headers['alipay-nonce']}\n{response.text}\n"
        signature = base64.b64decode(headers["alipay-signature"])
        self.platform_key.verify(signature, text.encode(), padding.PKCS1v15(), hashes.SHA256())
