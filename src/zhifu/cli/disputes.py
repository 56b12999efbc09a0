"""Operator commands about escrow disputes: `zhifu dispute decide TRADE_NO --for buyer|seller`.

A buyer asked for a refund and the seller refused: the trade is DISPUTED until an
operator rules. For the buyer, the escrow hold is voided and the money returns to the
buyer; for the seller, it is released to the seller less the fee.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from zhifu.cli.common import DatabaseUrl, DataDir, JsonOutput, emit, run_with_runtime, settings
from zhifu.runtime import Runtime

app = typer.Typer(help="Decide escrow disputes.", no_args_is_help=True)


class Party(StrEnum):
    BUYER = "buyer"
    SELLER = "seller"


@app.command("decide")
def decide(
    trade_no: Annotated[str, typer.Argument(help="The disputed trade's number.")],
    winner: Annotated[Party, typer.Option("--for", help="Who the ruling favours.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOutput = False,
) -> None:
    """Rule on a disputed guaranteed trade; prints the trade as the ruling left it."""

    async def work(runtime: Runtime) -> dict[str, Any]:
        trade = await runtime.payments.escrow.decide_dispute(
            trade_no, for_buyer=winner is Party.BUYER
        )
        return trade.to_dict()

    emit(run_with_runtime(settings(data_dir, database_url), work), as_json, title="trade")
