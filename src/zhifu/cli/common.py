"""What every CLI command shares: database options, running async work, printing."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from zhifu.config import Settings
from zhifu.errors import ZhifuError
from zhifu.runtime import Runtime

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="ZHIFU_DATA_DIR", help="Where the embedded database lives."),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="ZHIFU_DATABASE_URL",
        help="Use this PostgreSQL server instead of the embedded one.",
    ),
]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def settings(data_dir: Path | None, database_url: str | None, **more: Any) -> Settings:
    return Settings.from_env(data_dir=data_dir, database_url=database_url, **more)


def run_with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Open the runtime (database, services), run `work`, close; domain errors exit 1."""

    async def main() -> T:
        runtime = await Runtime.start(settings)
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    try:
        return asyncio.run(main())
    except ZhifuError as error:
        err_console.print(f"[red]error[/red] {error.code}: {error.message}")
        raise typer.Exit(1) from error


def emit(data: Any, as_json: bool, *, title: str | None = None) -> None:
    """Print `data` as JSON, or as a readable table of its fields."""
    if as_json:
        sys.stdout.write(json.dumps(data, default=str, indent=2) + "\n")
        return
    if isinstance(data, dict):
        table = Table(title=title, show_header=False)
        for key, value in data.items():
            text = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
            table.add_row(str(key), text)
        console.print(table)
    else:
        console.print(data)
