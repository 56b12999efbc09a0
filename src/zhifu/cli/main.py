"""The `zhifu` command."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated

import typer

from zhifu.cli import apps, bench, demo, disputes, kyc, payments, users
from zhifu.cli.common import (
    DatabaseUrl,
    DataDir,
    JsonOutput,
    console,
    emit,
    exit_with,
    run_with_runtime,
    settings,
)
from zhifu.db.migrate import upgrade
from zhifu.errors import ZhifuError
from zhifu.runtime import Runtime, resolve_database_url

app = typer.Typer(help="zhifu: a self-hostable payment platform.", no_args_is_help=True)
ledger_app = typer.Typer(help="Inspect and check the ledger.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(users.app, name="user")
app.add_typer(bench.app, name="bench")
app.command("demo")(demo.demo)
app.add_typer(payments.merchant_app, name="merchant")
app.add_typer(disputes.app, name="dispute")
app.add_typer(apps.app, name="app")
app.add_typer(kyc.app, name="kyc")


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="ZHIFU_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="ZHIFU_PORT")] = 8000,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    demo: Annotated[
        bool, typer.Option("--demo", envvar="ZHIFU_DEMO", help="Seed demo users and cards.")
    ] = False,
) -> None:
    """Start the REST API and the background worker on one port."""
    from zhifu.server import serve as serve_forever

    try:
        serve_forever(settings(data_dir, database_url, host=host, port=port, demo=demo))
    except ZhifuError as error:  # a start refused (unreadable platform keys, say)
        exit_with(error)


@app.command()
def migrate(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Bring the database schema up to date."""
    config = settings(data_dir, database_url)
    url = asyncio.run(resolve_database_url(config))
    upgrade(url)
    console.print("database is up to date")


@ledger_app.command("verify")
def ledger_verify(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonOutput = False
) -> None:
    """Check every ledger invariant; exit 1 with a report on any breach."""

    async def work(runtime: Runtime) -> dict[str, object]:
        return (await runtime.ledger.verify()).to_dict()

    report = run_with_runtime(settings(data_dir, database_url), work)
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
    elif report["ok"]:
        counts = report["counts"]
        console.print(f"[green]ledger OK[/green]: every invariant holds ({counts})")
    else:
        console.print("[red]ledger BREACHED[/red]")
        emit(report["breaches"], False)
    if not report["ok"]:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
