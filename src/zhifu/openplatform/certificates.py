"""Public-key certificate mode (公钥证书模式), with zhifu as the certificate authority.

In this mode an Alipay client is configured with three certificates instead of two bare
keys: its app's certificate (over the app's public key), the "alipay" certificate (over
the platform key that signs zhifu's answers) and the root certificate that issued both.
Every request names the first and the last by serial (`app_cert_sn`,
`alipay_root_cert_sn`); every answer names the platform certificate (`alipay_cert_sn`).

zhifu is that root: a self-signed CA made on first use and kept in the database (its
private key stored like the platform keys, see keys.py). It issues one certificate per
app and one per platform key, each once, on first need (`zhifu app certs` exports them).

A certificate's SN is the SDKs' `md5(issuer + decimal serial)`, the issuer written
`CN=..,OU=..,O=..,C=..` (RFC 4514 order): fzlee's `DCAliPay.get_cert_sn` formats exactly
those four attributes, Ant's Node SDK (`src/antcertutil.ts`) joins all of them in that
order, so zhifu's issuer names carry exactly those four. A root file may hold several
certificates; its SN is theirs joined with `_`, and a request may name any one of them.

Issued certificates never change, so each process keeps those it has read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from zhifu.clock import Clock
from zhifu.db.database import Conn, Database
from zhifu.openplatform.apps import App
from zhifu.openplatform.errors import invalid, missing
from zhifu.openplatform.keys import PLATFORM_KEY_BITS, PlatformKey, PlatformKeys
from zhifu.openplatform.keys import _encrypted as encrypted
from zhifu.openplatform.keys import _private_key as load_private_key
from zhifu.openplatform.keys import _private_pem as private_pem  # stored like platform keys
from zhifu.openplatform.signing import load_public_key

ROOT_LIFETIME = timedelta(days=20 * 365)
ISSUED_LIFETIME = timedelta(days=5 * 365)
BACKDATE = timedelta(days=1)  # tolerate clients whose clocks run a little behind
ORGANISATION = "zhifu"
_UNIT = "zhifu Certification Authority"


def cert_sn(certificate: x509.Certificate) -> str:
    """Alipay's certificate SN: md5 of the issuer name and the decimal serial number."""
    issuer = certificate.issuer.rfc4514_string()
    return hashlib.md5((issuer + str(certificate.serial_number)).encode()).hexdigest()


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _name(common_name: str, unit: str) -> x509.Name:
    """In DER order C, O, OU, CN: the SDKs read it back as CN=..,OU=..,O=..,C=..."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass(frozen=True, repr=False)
class Authority:
    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey

    def __repr__(self) -> str:  # never show the private key
        return f"Authority(sn={self.sn})"

    @property
    def sn(self) -> str:
        return cert_sn(self.certificate)

    def issue(self, public_key: rsa.RSAPublicKey, subject: x509.Name, now: datetime) -> str:
        """A certificate over `public_key` for `subject`, signed by this root (PEM)."""
        root_key = self.certificate.public_key()
        assert isinstance(root_key, rsa.RSAPublicKey)
        made = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + ISSUED_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(signing=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key), critical=False
            )
            .sign(self.private_key, hashes.SHA256())
        )
        return pem(made)


def _usage(*, signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signing,
        crl_sign=not signing,
        encipher_only=False,
        decipher_only=False,
    )


def new_authority(now: datetime) -> Authority:
    """A fresh self-signed root CA."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=PLATFORM_KEY_BITS)
    name = _name("zhifu Root CA", _UNIT)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + ROOT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(signing=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(certificate, key)


@dataclass(frozen=True)
class Issued:
    """A certificate the root issued, as PEM, with its SN."""

    certificate: str
    sn: str


@dataclass(frozen=True)
class CertificateSet:
    """What a merchant configures for one app in certificate mode."""

    app: Issued
    platform: Issued
    root: Issued

    def to_dict(self) -> dict[str, Any]:
        return {
            "app_cert_sn": self.app.sn,
            "alipay_cert_sn": self.platform.sn,
            "alipay_root_cert_sn": self.root.sn,
        }


class Certificates:
    def __init__(
        self, db: Database, clock: Clock, keys: PlatformKeys, passphrase: str | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self.keys = keys
        self._passphrase = passphrase
        self._root: Authority | None = None
        self._issued: dict[str, Issued] = {}  # by "app:<app_id>" / "key:<key id>"

    async def root(self) -> Authority:
        """zhifu's root CA, made on first use (the first process to store it wins)."""
        if self._root is None:
            self._root = await self.db.transaction(self._load_root)
        return self._root

    async def for_app(self, app: App) -> Issued:
        """The app's certificate over its registered public key, issued on first call."""
        subject = _name(app.app_id, f"zhifu merchant {app.merchant_id}")
        return await self._issue("app_id", app.app_id, load_public_key(app.public_key), subject)

    async def for_platform_key(self, key: PlatformKey) -> Issued:
        """The certificate of a platform key (the "alipay public key certificate")."""
        subject = _name(f"zhifu platform key {key.key_id}", "zhifu open platform")
        public = key.private_key.public_key()
        return await self._issue("platform_key_id", key.key_id, public, subject)

    async def for_merchant(self, app: App) -> CertificateSet:
        """The app's, the platform key's (the one signing for the app now) and the root's."""
        root = await self.root()
        platform = await self.for_platform_key(await self.keys.for_app(app.app_id))
        return CertificateSet(
            await self.for_app(app), platform, Issued(pem(root.certificate), root.sn)
        )

    async def answer_sn(self, app_id: str | None) -> str:
        """`alipay_cert_sn`: the SN of the platform key that signs for the app now."""
        return (await self.for_platform_key(await self.keys.for_app(app_id))).sn

    async def check_request(
        self, app: App, app_cert_sn: str | None, root_cert_sn: str | None
    ) -> None:
        """A request in certificate mode names the app's certificate and zhifu's root;
        one without either is in plain public-key mode and passes."""
        if not app_cert_sn and not root_cert_sn:
            return
        if not app_cert_sn:
            raise missing("app_cert_sn", "isv.missing-app-cert-sn")
        if not root_cert_sn:
            raise missing("alipay_root_cert_sn", "isv.missing-alipay-root-cert-sn")
        if (await self.root()).sn not in root_cert_sn.split("_"):
            raise invalid("isv.invalid-alipay-root-cert-sn", "not zhifu's root certificate")
        issued = await self._find("app_id", app.app_id)
        if issued is None or issued.sn != app_cert_sn:
            raise invalid(
                "isv.invalid-app-cert-sn",
                "app_cert_sn is not the certificate zhifu issued for this app "
                "(zhifu app certs APP --out DIR)",
            )

    # Storage.

    async def _load_root(self, conn: Conn) -> Authority:
        select = "select certificate, private_key from certificate_authority where id = 1"
        row = await (await conn.execute(select)).fetchone()
        if row is None:
            made = new_authority(self.clock.now())
            await conn.execute(
                """
                insert into certificate_authority (id, certificate, private_key, sn, created_at)
                values (1, %s, %s, %s, %s) on conflict (id) do nothing
                """,
                (
                    pem(made.certificate),
                    private_pem(made.private_key, self._passphrase),
                    made.sn,
                    self.clock.now(),
                ),
            )
            row = await (await conn.execute(select)).fetchone()
            assert row is not None
        certificate = x509.load_pem_x509_certificate(row["certificate"].encode("ascii"))
        private = load_private_key(row["private_key"], self._passphrase)
        if self._passphrase and not encrypted(row["private_key"]):  # stored before a passphrase
            await conn.execute(
                "update certificate_authority set private_key = %s where id = 1",
                (private_pem(private, self._passphrase),),
            )
        return Authority(certificate, private)

    async def _find(self, column: str, owner: str | int) -> Issued | None:
        cache_key = f"{column}:{owner}"
        if cache_key in self._issued:
            return self._issued[cache_key]
        row = await self.db.fetch_one(
            f"select certificate, sn from issued_certificate where {column} = %s", (owner,)
        )
        if row is None:
            return None
        found = self._issued[cache_key] = Issued(row["certificate"], row["sn"])
        return found

    async def _issue(
        self, column: str, owner: str | int, public_key: rsa.RSAPublicKey, subject: x509.Name
    ) -> Issued:
        found = await self._find(column, owner)
        if found is not None:
            return found
        now = self.clock.now()
        certificate = (await self.root()).issue(public_key, subject, now)
        sn = cert_sn(x509.load_pem_x509_certificate(certificate.encode("ascii")))
        async with self.db.connection() as conn:
            await conn.execute(
                f"""
                insert into issued_certificate ({column}, sn, certificate, created_at)
                values (%s, %s, %s, %s) on conflict ({column}) do nothing
                """,
                (owner, sn, certificate, now),
            )
        issued = await self._find(column, owner)  # another process may have been first
        assert issued is not None
        return issued
