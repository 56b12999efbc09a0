"""Operator commands about consumers: `zhifu user create|show|topup`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer

from zhifu.cli.common import DatabaseUrl, DataDir, JsonOutput, emit, run_with_runtime, settings
from zhifu.errors import NotFound
from zhifu.identity.credentials import check_pin
from zhifu.money import parse_decimal
from zhifu.runtime import Runtime

app = typer.Typer(help="Create and inspect consumers.", no_args_is_help=True)

Phone = Annotated[str, typer.Argument(help="The user's phone number.")]


@app.command("create")
def create(
    phone: Annotated[str, typer.Option("--phone", help="Phone number (the login).")],
    password: Annotated[str, typer.Option("--password", help="Login password, 8+ chars.")],
    pin: Annotated[str | None, typer.Option("--pin", help="6-digit payment PIN.")] = None,
    kyc_tier: Annotated[int, typer.Option("--kyc-tier", min=0, max=3)] = 0,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="A test buyer who holds only sandbox money.")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOutput = False,
) -> None:
    """Sign a consumer up, as the app would, with an optional PIN and KYC tier."""

    async def work(runtime: Runtime) -> dict[str, Any]:
        if pin is not None:
            check_pin(pin)  # refuse a bad PIN before anything is created
        user = await runtime.users.signup(phone, password, kyc_tier=kyc_tier, sandbox=sandbox)
        if pin is not None:
            await runtime.users.set_pin(user.id, pin)
        return await describe(runtime, user.id)

    emit(run_with_runtime(settings(data_dir, database_url), work), as_json, title="user")


@app.command("show")
def show(
    phone: Phone,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOutput = False,
) -> None:
    """A consumer's profile, balances and limits."""

    async def work(runtime: Runtime) -> dict[str, Any]:
        user = await runtime.users.by_phone(phone)
        return await describe(runtime, user.id)

    emit(run_with_runtime(settings(data_dir, database_url), work), as_json, title="user")


@app.command("topup")
def topup(
    phone: Phone,
    amount: Annotated[str, typer.Argument(help="Decimal amount, e.g. 100.00")],
    currency: Annotated[str, typer.Option("--currency")] = "CNY",
    card_id: Annotated[
        int | None, typer.Option("--card-id", help="Default: the newest linked card.")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOutput = False,
) -> None:
    """Top a consumer's wallet up from a linked card, through the bank, as the app does."""

    async def work(runtime: Runtime) -> dict[str, Any]:
        minor = parse_decimal(amount, currency)
        user = await runtime.users.by_phone(phone)
        card = card_id if card_id is not None else await newest_card(runtime, user.id)
        order = await runtime.funding.topup(user.id, card, minor, currency, uuid.uuid4().hex)
        return {"order": order.to_dict(), **await describe(runtime, user.id)}

    result = run_with_runtime(settings(data_dir, database_url), work)
    emit(result, as_json, title="top-up")
    if result["order"]["state"] == "failed":
        raise typer.Exit(1)


async def newest_card(runtime: Runtime, user_id: int) -> int:
    cards = [card for card in await runtime.cards.list(user_id) if card.status == "active"]
    if not cards:
        raise NotFound("this user has no linked card: link one first (POST /v1/cards)")
    return max(cards, key=lambda card: card.id).id


async def describe(runtime: Runtime, user_id: int) -> dict[str, Any]:
    user = await runtime.users.get(user_id)
    balances = await runtime.transfers.balances(user_id)
    return {
        **user.to_dict(),
        "balances": [balance.to_dict() for balance in balances],
        "limits": user.limits.to_dict(),
    }
