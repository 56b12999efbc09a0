"""`zhifu bench`: benchmarks against the PostgreSQL server zhifu runs on."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from zhifu.benchmarks.gateway import CLIENTS as GATEWAY_CLIENTS
from zhifu.benchmarks.gateway import run_gateway_bench
from zhifu.benchmarks.ledger import invocation, print_report, run_ledger_bench
from zhifu.benchmarks.payments import CLIENTS, run_payments_bench

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


# The HTTP benchmarks' database options: a fresh database on a server, or the embedded one.
FreshDatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="ZHIFU_DATABASE_URL",
        help="Benchmark on this PostgreSQL server (in a fresh database).",
    ),
]
EmbeddedDataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="ZHIFU_DATA_DIR", help="Embedded server data dir."),
]


@app.command("payments")
def payments(
    database_url: FreshDatabaseUrl = None,
    data_dir: EmbeddedDataDir = None,
    clients: Annotated[
        list[int] | None, typer.Option("--clients", min=1, help="Client counts (repeatable).")
    ] = None,
    merchants: Annotated[
        int, typer.Option("--merchants", min=2, help="Merchants in the spread-out case.")
    ] = 1000,
    seconds: Annotated[float, typer.Option("--seconds", min=0.5)] = 10.0,
    short: Annotated[bool, typer.Option("--short", help="2 s per level.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """End-to-end payments per second over HTTP (create + pay), 1,000 merchants and one."""
    err = Console(stderr=True)
    with err.status("benchmarking payments over HTTP"):
        result = run_payments_bench(
            database_url,
            data_dir,
            clients=tuple(clients or CLIENTS),
            merchant_cases=(merchants, 1),
            seconds=2.0 if short else seconds,
        )
    result["command"] = invocation()
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    else:
        print_payments(result)
    if not result["ledger_verified"]:
        raise typer.Exit(1)


def print_payments(result: dict[str, Any]) -> None:
    table = Table(title=f"payments over HTTP ({result['server']} PostgreSQL)")
    for column in ("merchants", "clients", "payments/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right")
    for row in result["levels"]:
        table.add_row(
            str(row["merchants"]),
            str(row["clients"]),
            str(row["payments_per_s"]),
            str(row["p50_ms"]),
            str(row["p99_ms"]),
            str(row["errors"]),
        )
    console = Console()
    console.print(table)
    console.print(f"one merchant / spread-out, by clients: {result['hot_ratio']}")
    console.print(f"ledger verified: {result['ledger_verified']}; command: {result['command']}")


@app.command("gateway")
def gateway(
    database_url: FreshDatabaseUrl = None,
    data_dir: EmbeddedDataDir = None,
    clients: Annotated[int, typer.Option("--clients", min=1, max=64)] = GATEWAY_CLIENTS,
    seconds: Annotated[float, typer.Option("--seconds", min=0.5, max=60)] = 10.0,
    short: Annotated[bool, typer.Option("--short", help="2 s per run.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Signed alipay.trade.pay calls per second through /gateway.do, beside the same
    payment-code payments through the REST API."""
    err = Console(stderr=True)
    with err.status("benchmarking the gateway beside the REST API"):
        result = run_gateway_bench(
            database_url, data_dir, clients=clients, seconds=2.0 if short else seconds
        )
    result["command"] = invocation()
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    else:
        print_gateway(result)
    if not result["ledger_verified"]:
        raise typer.Exit(1)


def print_gateway(result: dict[str, Any]) -> None:
    table = Table(title=f"payment-code payments, gateway vs REST ({result['server']} PostgreSQL)")
    columns = ("api", "clients", "pay/s", "p50 ms", "p99 ms", "errors", "client CPU ms")
    for column in (*columns, "signing ms"):
        table.add_column(column, justify="right")
    for row in result["levels"]:
        signing = row.get("client_sign_ms_per_payment", 0) + row.get(
            "client_verify_ms_per_payment", 0
        )
        table.add_row(
            row["api"],
            str(row["clients"]),
            str(row["payments_per_s"]),
            str(row["p50_ms"]),
            str(row["p99_ms"]),
            str(row["errors"]),
            str(row["client_cpu_ms_per_payment"]),
            f"{signing:.3f}" if row["api"] == "gateway" else "",
        )
    console = Console()
    console.print(table)
    console.print(
        f"gateway / REST: {result['gateway_vs_rest']} (target >= "
        f"{result['target_gateway_vs_rest']}); load average at start: "
        f"{result['load_average_at_start']}"
    )
    console.print(f"ledger verified: {result['ledger_verified']}; command: {result['command']}")


if __name__ == "__main__":
    app()
