"""Public-key certificate mode: zhifu's root CA, the certificates it issues, their SNs
as the SDKs compute them, and the gateway (v1 and v3) in that mode."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.conftest import private_database
from tests.e2e.harness import cli
from tests.openplatform.alipay_client import (
    AlipayTestClient,
    new_key,
    pkcs1_public_pem,
    sign_params,
    signed_node,
)
from tests.openplatform.conftest import app_client
from tests.openplatform.test_key_storage import PASSPHRASE
from tests.openplatform.v3_client import V3TestClient
from tests.payments.conftest import Shop
from zhifu.clock import ManualClock
from zhifu.openplatform.certificates import Certificates, CertificateSet
from zhifu.openplatform.keys import KeyPassphraseError, PlatformKeys
from zhifu.runtime import Runtime


def fzlee_sn(pem: str) -> str:
    """fzlee's DCAliPay.get_cert_sn, re-written: md5('CN=..,OU=..,O=..,C=..' + serial)."""
    cert = x509.load_pem_x509_certificate(pem.encode())

    def part(oid: x509.ObjectIdentifier) -> str:
        return str(cert.issuer.get_attributes_for_oid(oid)[0].value)

    name = "CN={},OU={},O={},C={}".format(
        *(part(oid) for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME,
                                NameOID.ORGANIZATION_NAME, NameOID.COUNTRY_NAME))
    )  # fmt: skip
    return hashlib.md5((name + str(cert.serial_number)).encode()).hexdigest()


def node_sdk_sn(pem: str) -> str:
    """Ant's Node SDK (src/antcertutil.ts getCertSN), re-written: every issuer attribute
    from the last to the first, `short=value` joined by commas."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    short = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
             NameOID.ORGANIZATION_NAME: "O", NameOID.COUNTRY_NAME: "C"}  # fmt: skip
    name = ",".join(f"{short[a.oid]}={a.value}" for a in reversed(list(cert.issuer)))
    return hashlib.md5((name + str(cert.serial_number)).encode()).hexdigest()


async def certified(runtime: Runtime, alipay: AlipayTestClient) -> CertificateSet:
    return await runtime.openplatform.app_certificates(alipay.app_id)


async def test_the_root_issues_the_apps_and_the_platform_keys_certificates(
    runtime: Runtime, alipay: AlipayTestClient
) -> None:
    found = await certified(runtime, alipay)
    root = x509.load_pem_x509_certificate(found.root.certificate.encode())
    app = x509.load_pem_x509_certificate(found.app.certificate.encode())
    platform = x509.load_pem_x509_certificate(found.platform.certificate.encode())
    root.verify_directly_issued_by(root)
    app.verify_directly_issued_by(root)
    platform.verify_directly_issued_by(root)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not app.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    app_key = app.public_key()
    assert isinstance(app_key, rsa.RSAPublicKey)
    assert app_key.public_numbers() == alipay.private_key.public_key().public_numbers()
    platform_pem = await runtime.openplatform.platform_public_key()
    assert found.platform.certificate != platform_pem
    platform_key = platform.public_key()
    assert isinstance(platform_key, rsa.RSAPublicKey)
    assert platform_key.public_numbers() == alipay.platform_key.public_numbers()

    for issued in (found.app, found.platform, found.root):
        assert issued.sn == fzlee_sn(issued.certificate) == node_sdk_sn(issued.certificate)
    assert await certified(runtime, alipay) == found  # issued once


async def test_the_gateway_checks_the_sns_and_answers_with_alipay_cert_sn(
    runtime: Runtime, alipay: AlipayTestClient
) -> None:
    found = await certified(runtime, alipay)
    cert_mode = {"app_cert_sn": found.app.sn, "alipay_root_cert_sn": found.root.sn}

    async def raw(biz: dict[str, Any], **params: str) -> str:
        signed = sign_params(
            {**alipay.params("alipay.trade.query", biz), **params}, alipay.private_key
        )
        response = await alipay.send(signed)
        assert response.status_code == 200
        return response.text

    ref = {"out_trade_no": f"T{uuid.uuid4().hex[:12]}"}
    text = await raw(ref, **cert_mode)
    _, node, _ = signed_node(text)
    assert f'{node},"alipay_cert_sn":"{found.platform.sn}","sign":"' in text
    assert alipay.verified(text)["sub_code"] == "ACQ.TRADE_NOT_EXIST"  # past the SN checks

    with_sm2_root = {**cert_mode, "alipay_root_cert_sn": f"{'0' * 32}_{found.root.sn}"}
    assert alipay.verified(await raw(ref, **with_sm2_root))["sub_code"] == "ACQ.TRADE_NOT_EXIST"

    refusals = {
        "isv.invalid-app-cert-sn": {**cert_mode, "app_cert_sn": found.platform.sn},
        "isv.invalid-alipay-root-cert-sn": {**cert_mode, "alipay_root_cert_sn": found.app.sn},
        "isv.missing-alipay-root-cert-sn": {"app_cert_sn": found.app.sn},
        "isv.missing-app-cert-sn": {"alipay_root_cert_sn": found.root.sn},
    }
    for sub_code, params in refusals.items():
        answer = alipay.verified(await raw(ref, **params))
        assert answer["sub_code"] == sub_code, answer

    plain = await raw(ref)
    assert "alipay_cert_sn" not in plain


async def test_an_app_without_issued_certificates_is_refused_in_certificate_mode(
    runtime: Runtime, client: httpx.AsyncClient, shop: Shop, alipay: AlipayTestClient
) -> None:
    root_sn = (await certified(runtime, alipay)).root.sn
    fresh = await app_client(runtime, client, (await shop.merchant()).id)
    made = await fresh.call(
        "alipay.trade.query",
        {"out_trade_no": "x"},
        app_cert_sn="0" * 32,
        alipay_root_cert_sn=root_sn,
    )
    assert made["sub_code"] == "isv.invalid-app-cert-sn"


async def test_v3_in_certificate_mode_answers_with_alipay_sn(
    runtime: Runtime, client: httpx.AsyncClient, alipay: AlipayTestClient
) -> None:
    found = await certified(runtime, alipay)
    v3 = V3TestClient(
        client,
        alipay.app_id,
        alipay.private_key,
        alipay.platform_key,
        app_cert_sn=found.app.sn,
        root_cert_sn=found.root.sn,
        alipay_cert_sn=found.platform.sn,
    )
    body = {"out_trade_no": f"T{uuid.uuid4().hex[:12]}", "total_amount": "1.00", "subject": "c"}
    made = await v3.curl("POST", "/v3/alipay/trade/create", body=body)
    assert made.status == 200 and made.headers["alipay-sn"] == found.platform.sn
    v3.app_cert_sn = found.platform.sn
    refused = await v3.curl("POST", "/v3/alipay/trade/create", body=body)
    assert (refused.status, refused.data["code"]) == (401, "invalid-app-cert-sn")


@pytest.mark.usefixtures("runtime")
def test_zhifu_app_certs_exports_the_three_pems(database_url: str, tmp_path: Path) -> None:
    where = {"database_url": database_url}
    merchant = cli("merchant", "create", "--name", "Cert shop", **where)
    key_file = tmp_path / "app.pem"
    key_file.write_text(pkcs1_public_pem(new_key()))
    app_id = cli("app", "create", "--merchant", str(merchant["id"]), "--public-key",
                 str(key_file), **where)["app_id"]  # fmt: skip
    out = tmp_path / "certs"
    done = cli("app", "certs", app_id, "--out", str(out), **where)
    names = sorted(path.name for path in out.iterdir())
    assert names == sorted(
        [f"appCertPublicKey_{app_id}.crt", "alipayCertPublicKey_RSA2.crt", "alipayRootCert.crt"]
    )
    app_pem = (out / f"appCertPublicKey_{app_id}.crt").read_text()
    assert done["app_cert_sn"] == fzlee_sn(app_pem)
    assert done["alipay_root_cert_sn"] == fzlee_sn((out / "alipayRootCert.crt").read_text())
    again = cli("app", "certs", app_id, "--out", str(out), **where)
    assert json.dumps(again, sort_keys=True) == json.dumps(done, sort_keys=True)


async def test_the_root_ca_key_is_kept_like_the_platform_keys(database_url: str) -> None:
    """In clear without ZHIFU_KEY_PASSPHRASE, encrypted on the first load with it, then
    refused to a process without it. On a database of its own (the root is global)."""
    async with private_database(database_url, max_size=2) as fresh:
        clock = ManualClock()
        keys = PlatformKeys(fresh, clock)
        clear = await Certificates(fresh, clock, keys).root()
        stored = "select private_key from certificate_authority"
        row = await fresh.fetch_one(stored)
        assert row is not None and row["private_key"].startswith("-----BEGIN PRIVATE KEY-----")

        guarded = await Certificates(fresh, clock, keys, PASSPHRASE).root()
        assert guarded.sn == clear.sn
        row = await fresh.fetch_one(stored)
        assert row is not None and row["private_key"].startswith("-----BEGIN ENCRYPTED")
        with pytest.raises(KeyPassphraseError):
            await Certificates(fresh, clock, keys).root()
