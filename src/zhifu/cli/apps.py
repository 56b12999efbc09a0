"""Operator commands of the open platform: `zhifu app create`, an app's AES content key
(`aes-key`; see openplatform/encryption.py), the platform keys (`platform-key`,
`rotate-platform-key`, `use-platform-key`; see openplatform/keys.py), and certificate
mode's `certs` (openplatform/certificates.py)."""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from zhifu.cli.common import (
    DatabaseUrl,
    DataDir,
    JsonOutput,
    console,
    emit,
    run_with_runtime,
    settings,
)
from zhifu.runtime import Runtime

app = typer.Typer(help="Apps that call the Alipay-compatible gateway.", no_args_is_help=True)


class SignTypeChoice(StrEnum):
    RSA2 = "RSA2"
    RSA = "RSA"


@app.command("create")
def create_app(
    merchant: Annotated[int, typer.Option("--merchant", help="The merchant's id.")],
    public_key: Annotated[
        Path,
        typer.Option(
            "--public-key",
            exists=True,
            dir_okay=False,
            help="The app's RSA public key (2048+ bits), PEM in SPKI or PKCS#1 form.",
        ),
    ],
    isv: Annotated[
        bool, typer.Option("--isv", help="A service provider's app (acting for merchants).")
    ] = False,
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Mark the app as sandbox.")] = False,
    sign_type: Annotated[
        SignTypeChoice,
        typer.Option("--sign-type", help="How the app signs: RSA2 (SHA-256) or legacy RSA."),
    ] = SignTypeChoice.RSA2,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOutput = False,
) -> None:
    """Register an app for a merchant; prints its app_id."""
    pem = public_key.read_text()

    async def work(runtime: Runtime) -> dict[str, Any]:
        made = await runtime.openplatform.create_app(
            merchant, pem, isv=isv, sandbox=sandbox, sign_type=sign_type.value
        )
        return made.to_dict()

    made = run_with_runtime(settings(data_dir, database_url), work)
    if as_json:
        emit(made, True)
    else:
        console.print(made["app_id"])


@app.command("aes-key")
def aes_key(
    app_id: Annotated[str, typer.Argument(help="The app that encrypts its biz_content.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOutput = False,
) -> None:
    """Make a new AES key for the app's content encryption (encrypt_type=AES) and print it
    (base64), to configure as the SDK's encrypt_key. It replaces the app's earlier key at
    once. Sealed at rest under ZHIFU_KEY_PASSPHRASE when one is set."""

    async def work(runtime: Runtime) -> str:
        return await runtime.openplatform.new_aes_key(app_id)

    key = run_with_runtime(settings(data_dir, database_url), work)
    if as_json:
        emit({"app_id": app_id, "aes_key": key}, True)
    else:
        sys.stdout.write(key + "\n")


_GRACE = re.compile(r"([0-9]{1,6})([dhm])")
_GRACE_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_grace(text: str) -> timedelta:
    """`7d`, `12h`, `90m` or `0`."""
    if text == "0":
        return timedelta(0)
    match = _GRACE.fullmatch(text)
    if match is None:
        raise typer.BadParameter("give days, hours or minutes: 7d, 12h, 90m, or 0")
    return timedelta(**{_GRACE_UNITS[match.group(2)]: int(match.group(1))})


def _print_keys(keys: list[dict[str, Any]], as_json: bool) -> None:
    """One key: its PEM (or all its fields as JSON); several: a table, or JSON."""
    if as_json:
        emit(keys[0] if len(keys) == 1 else {"keys": keys}, True)
    elif len(keys) == 1:
        sys.stdout.write(keys[0]["public_key"])
    else:
        for key in keys:
            emit({name: value for name, value in key.items() if name != "public_key"}, False)


@app.command("platform-key")
def platform_key(
    app_id: Annotated[
        str | None, typer.Option("--app", help="The key that signs for this app now.")
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every key that signs now (two during a grace).")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOutput = False,
) -> None:
    """zhifu's platform public key (SPKI PEM), the newest unless told otherwise: configure
    it as the "alipay public key". Only public halves are ever shown."""

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        keys = runtime.openplatform.keys
        newest = await keys.current()
        if every:
            found = await keys.signing()
        elif app_id is not None:
            found = [await runtime.openplatform.platform_key_for(app_id)]
        else:
            found = [newest]
        return [
            {**key.to_dict(), "newest": key.key_id == newest.key_id}
            | ({"app_id": app_id} if app_id and not every else {})
            for key in found
        ]

    _print_keys(run_with_runtime(settings(data_dir, database_url), work), as_json)


@app.command("rotate-platform-key")
def rotate_platform_key(
    grace: Annotated[
        str,
        typer.Option(
            "--grace",
            help="How long existing apps keep the old key (7d, 12h, 90m, 0); new apps "
            "use the new key at once.",
        ),
    ] = "7d",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOutput = False,
) -> None:
    """Make a new platform key pair. Each existing app is signed with its old key until
    the grace ends or its merchant switches (`zhifu app use-platform-key`)."""
    period = parse_grace(grace)

    async def work(runtime: Runtime) -> dict[str, Any]:
        keys = runtime.openplatform.keys
        new = await keys.rotate(period)
        retiring = [key.to_dict() for key in await keys.signing() if key.key_id != new.key_id]
        return {"new": new.to_dict(), "retiring": retiring}

    done = run_with_runtime(settings(data_dir, database_url), work)
    if as_json:
        emit(done, True)
    else:
        console.print(f"new platform key {done['new']['key_id']} (zhifu app platform-key)")
        for key in done["retiring"]:
            console.print(f"platform key {key['key_id']} retires at {key['retires_at']}")


@app.command("use-platform-key")
def use_platform_key(
    app_id: Annotated[str, typer.Argument(help="The app whose merchant has the newest key.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOutput = False,
) -> None:
    """Sign for the app with the newest platform key from now on."""

    async def work(runtime: Runtime) -> dict[str, Any]:
        key = await runtime.openplatform.use_newest_platform_key(app_id)
        return {"app_id": app_id, **key.to_dict()}

    done = run_with_runtime(settings(data_dir, database_url), work)
    if as_json:
        emit(done, True)
    else:
        console.print(f"app {app_id} is now signed with platform key {done['key_id']}")


# Alipay's file names, which merchants' configurations usually point at.
APP_CERT_FILE = "appCertPublicKey_{app_id}.crt"
PLATFORM_CERT_FILE = "alipayCertPublicKey_RSA2.crt"
ROOT_CERT_FILE = "alipayRootCert.crt"


@app.command("certs")
def certs(
    app_id: Annotated[str, typer.Argument(help="The app whose certificates to export.")],
    out: Annotated[
        Path, typer.Option("--out", file_okay=False, help="The directory to write them to.")
    ],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOutput = False,
) -> None:
    """Public-key certificate mode: write the app's certificate, zhifu's platform
    certificate and root certificate (PEM), issued by zhifu's root CA on first export."""

    async def work(runtime: Runtime) -> dict[str, Any]:
        found = await runtime.openplatform.app_certificates(app_id)
        out.mkdir(parents=True, exist_ok=True)
        files = {
            APP_CERT_FILE.format(app_id=app_id): found.app.certificate,
            PLATFORM_CERT_FILE: found.platform.certificate,
            ROOT_CERT_FILE: found.root.certificate,
        }
        for name, text in files.items():
            (out / name).write_text(text)
        return {"app_id": app_id, **found.to_dict(), "files": [str(out / n) for n in files]}

    done = run_with_runtime(settings(data_dir, database_url), work)
    if as_json:
        emit(done, True)
    else:
        for path in done["files"]:
            console.print(path)
