"""Operator commands of the open platform: `zhifu app create` and `zhifu app platform-key`."""

from __future__ import annotations

import sys
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
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOutput = False,
) -> None:
    """Register an app for a merchant; prints its app_id."""
    pem = public_key.read_text()

    async def work(runtime: Runtime) -> dict[str, Any]:
        made = await runtime.openplatform.create_app(merchant, pem, isv=isv, sandbox=sandbox)
        return made.to_dict()

    made = run_with_runtime(settings(data_dir, database_url), work)
    if as_json:
        emit(made, True)
    else:
        console.print(made["app_id"])


@app.command("platform-key")
def platform_key(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonOutput = False
) -> None:
    """zhifu's platform public key (SPKI PEM): configure it as the "alipay public key"."""

    async def work(runtime: Runtime) -> str:
        return await runtime.openplatform.platform_public_key()

    pem = run_with_runtime(settings(data_dir, database_url), work)
    if as_json:
        emit({"public_key": pem}, True)
    else:
        sys.stdout.write(pem)
