"""`zhifu bench`: benchmarks against the PostgreSQL server zhifu runs on."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from zhifu.benchmarks.ledger import invocation, print_report, run_ledger_bench

app = typer.Typer(help="Benchmarks (figures go in docs/benchmarks.md).", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Benchmarks against the PostgreSQL server zhifu runs on."""


@app.command("ledger")
def ledger(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="ZHIFU_DATABASE_URL",
            help="Benchmark this PostgreSQL server (a fresh database is created and dropped).",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="ZHIFU_DATA_DIR",
            help="Run the embedded server from this data directory (default: a temporary one).",
        ),
    ] = None,
    clients: Annotated[
        int, typer.Option("--clients", min=1, help="Clients of the one-per-transaction mode.")
    ] = 4,
    seconds: Annotated[
        float, typer.Option("--seconds", min=0.5, help="Length of each timed run.")
    ] = 10.0,
    short: Annotated[bool, typer.Option("--short", help="The quick form (about 30 s).")] = False,
    transfers: Annotated[
        int | None, typer.Option("--transfers", min=10, help="Cap on transfers per run.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Transfers per second through the ledger, beside pgbench on the same server."""
    err = Console(stderr=True)
    with err.status("benchmarking the ledger") as status:
        result = run_ledger_bench(
            database_url,
            data_dir,
            clients=clients,
            seconds=seconds,
            short=short,
            transfers=transfers,
            command=invocation(),
            progress=lambda message: status.update(message),
        )
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    else:
        print_report(result)
    if not result.get("verify", {}).get("ok"):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
