"""Operator commands about payments: `zhifu merchant create`, `zhifu merchant login-create`
and `zhifu user payment-code`.

`merchant_app` is mounted as `zhifu merchant` in main.py; `payment-code` joins the
`zhifu user` commands (cli/users.py) when this module is imported.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

import typer

from zhifu.cli import users
from zhifu.cli.common import (
    DatabaseUrl,
    DataDir,
    JsonOutput,
    console,
    emit,
    run_with_runtime,
    settings,
)
from zhifu.merchants import DEFAULT_FEE_RATE_PPM, PPM
from zhifu.runtime import Runtime

merchant_app = typer.Typer(help="Onboard and inspect merchants.", no_args_is_help=True)

# A fee rate is a percentage with at most 4 decimal places (1 ppm), 0 to 100.
_PERCENT = re.compile(r"(?:100(?:\.0{1,4})?|[0-9]{1,2}(?:\.[0-9]{1,4})?)")


def fee_rate_ppm(percent: str) -> int:
    """'0.6' (percent) -> 6000 parts per million, exactly; anything else is refused."""
    if not _PERCENT.fullmatch(percent.strip()):
        raise typer.BadParameter("a percentage from 0 to 100 with at most 4 decimals, e.g. 0.6")
    return int(Decimal(percent.strip()) * PPM / 100)


@merchant_app.command("create")
def create_merchant(
    name: Annotated[str, typer.Option("--name", help="The merchant's name.")],
    fee_rate: Annotated[
        str | None,
        typer.Option("--fee-rate", help="Merchant discount rate in percent, e.g. 0.6 (default)."),
    ] = None,
    city: Annotated[str, typer.Option("--city", help="The merchant's city.")] = "Shanghai",
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="A test merchant that moves only sandbox money.")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOutput = False,
) -> None:
    """Onboard a merchant; prints its id and its first secret API key (shown only now)."""
    rate = DEFAULT_FEE_RATE_PPM if fee_rate is None else fee_rate_ppm(fee_rate)

    async def work(runtime: Runtime) -> dict[str, Any]:
        merchant, key = await runtime.payments.merchants.create(
            name, fee_rate_ppm=rate, city=city, sandbox=sandbox
        )
        return {**merchant.to_dict(), "secret_key": key.secret_key}

    emit(run_with_runtime(settings(data_dir, database_url), work), as_json, title="merchant")


@merchant_app.command("login-create")
def create_login(
    merchant: Annotated[int, typer.Option("--merchant", help="The merchant's id.", min=1)],
    login: Annotated[str, typer.Option("--login", help="The staff member's login name.")],
    password: Annotated[
        str,
        typer.Option("--password", prompt=True, hide_input=True, help="8 to 128 characters."),
    ],
    phone: Annotated[
        str | None, typer.Option("--phone", help="A phone number that signs in too.")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOutput = False,
) -> None:
    """A merchant portal sign-in for a merchant's staff (at /merchant/login)."""

    async def work(runtime: Runtime) -> dict[str, Any]:
        made = await runtime.payments.portal.create(merchant, login, password, phone=phone)
        return made.to_dict()

    emit(run_with_runtime(settings(data_dir, database_url), work), as_json, title="login")


def payment_code(
    phone: Annotated[str, typer.Argument(help="The consumer's phone number.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOutput = False,
) -> None:
    """The consumer's current one-time payment code, as their app shows it.

    A payment device is registered for the consumer if they have none."""

    async def work(runtime: Runtime) -> dict[str, Any]:
        user = await runtime.users.by_phone(phone)
        return (await runtime.payments.devices.current_code(user.id)).to_dict()

    shown = run_with_runtime(settings(data_dir, database_url), work)
    if as_json:
        emit(shown, True)
    else:
        console.print(f"[bold]{shown['code']}[/bold]")
        console.print(f"valid for {shown['expires_in']} s, once")


users.app.command("payment-code")(payment_code)
