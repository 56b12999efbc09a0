"""A minimal Alipay client for tests, written from the protocol notes, independent of
zhifu's own signing code: it signs requests the way both public SDKs do and checks
responses the way fzlee's SDK does (brace counting from the node's first `{`)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

Style = Literal["fzlee", "official", "multipart"]


def new_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def spki_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def pkcs1_public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        .decode()
    )


def pkcs1_private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def rsa_sign(text: str, key: rsa.RSAPrivateKey, sign_type: str) -> str:
    digest = hashes.SHA256() if sign_type == "RSA2" else hashes.SHA1()
    return base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), digest)).decode()


def sign_params(params: dict[str, str], key: rsa.RSAPrivateKey) -> dict[str, str]:
    """SDK signing: all params but `sign`, no empty ones, sorted, raw values joined."""
    text = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if v and k != "sign")
    return {**params, "sign": rsa_sign(text, key, params.get("sign_type", "RSA2"))}


def signed_node(raw: str) -> tuple[str, str, str]:
    """(node name, the node's exact text, sign) the way fzlee's SDK slices a response."""
    document = json.loads(raw)
    node = next(name for name in document if name.endswith("_response"))
    start = raw.find("{", raw.find(node))
    depth = 0
    for end in range(start, len(raw)):
        depth += {"{": 1, "}": -1}.get(raw[end], 0)
        if depth == 0:
            return node, raw[start : end + 1], document["sign"]
    raise AssertionError("unbalanced response")


@dataclass
class AlipayTestClient:
    http: httpx.AsyncClient
    app_id: str
    private_key: rsa.RSAPrivateKey
    platform_key: rsa.RSAPublicKey
    sign_type: str = "RSA2"
    last_node: str = field(default="", init=False)

    def params(self, method: str, biz: dict[str, Any], style: Style = "fzlee") -> dict[str, str]:
        official = style != "fzlee"
        common = {
            "app_id": self.app_id,
            "method": method,
            "charset": "utf-8",
            "sign_type": self.sign_type,
            "timestamp": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
            "biz_content": json.dumps(
                biz, separators=(",", ":"), ensure_ascii=not official, sort_keys=official
            ),
        }
        if official:
            common["format"] = "json"
        return common

    async def send(self, params: dict[str, str], style: Style = "fzlee") -> httpx.Response:
        if style == "fzlee":
            return await self.http.get("/gateway.do", params=params)
        body = {"biz_content": params.pop("biz_content")}
        if style == "official":
            return await self.http.post("/gateway.do", params=params, data=body)
        files = {name: (None, value) for name, value in body.items()}
        return await self.http.post("/gateway.do", params=params, files=files)

    async def call(
        self,
        method: str,
        biz: dict[str, Any],
        *,
        style: Style = "fzlee",
        key: rsa.RSAPrivateKey | None = None,
        **overrides: str,
    ) -> dict[str, Any]:
        """Sign and send one request; check the answer's signature; return its node."""
        params = {**self.params(method, biz, style), **overrides}
        response = await self.send(sign_params(params, key or self.private_key), style)
        assert response.status_code == 200
        return self.verified(response.text)

    def verified(self, raw: str) -> dict[str, Any]:
        node, text, signature = signed_node(raw)
        digest = hashes.SHA256() if self.sign_type == "RSA2" else hashes.SHA1()
        self.platform_key.verify(
            base64.b64decode(signature), text.encode(), padding.PKCS1v15(), digest
        )
        self.last_node = node
        body: dict[str, Any] = json.loads(text)
        return body
