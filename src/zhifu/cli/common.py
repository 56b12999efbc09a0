"""What every CLI command shares: database options, running async work, printing."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from zhifu.errors import InvalidSetting, ZhifuError
from zhifu.runtime import Runtime
from zhifu.settings import Settings

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


def settings(data_dir: Path | None, database_url: str | None, **server: Any) -> Settings:
    """The ZHIFU_* settings, the command's options winning; a bad value exits 1."""
    try:
        database = {"data_dir": data_dir, "database_url": database_url}
        return Settings.from_env(db=database, server=server)
    except InvalidSetting as error:
        exit_with(error)


def exit_with(error: ZhifuError) -> NoReturn:
    """Say what was refused, in one line, and exit 1."""
    err_console.print(f"[red]error[/red] {error.code}: {error.message}")
    raise typer.Exit(1) from error


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
        exit_with(error)


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
