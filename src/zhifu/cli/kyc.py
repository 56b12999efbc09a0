"""Operator commands about KYC tier requests: `zhifu kyc list|approve|reject`.

Users ask for a higher tier (POST /v1/me/kyc); what the identity check leaves undecided
waits here for an operator. Approving moves the user to the tier and its limits.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from zhifu.cli.common import DatabaseUrl, DataDir, JsonOutput, emit, run_with_runtime, settings
from zhifu.identity.kyc import KycRequest
from zhifu.runtime import Runtime

app = typer.Typer(help="Decide KYC tier requests.", no_args_is_help=True)

RequestId = Annotated[str, typer.Argument(help="The request's id (kyc_...).")]
Operator = Annotated[str, typer.Option("--by", help="Who decides, for the record.")]


async def _described(runtime: Runtime, request: KycRequest) -> dict[str, Any]:
    user = await runtime.users.get(request.user_id)
    return {
        **request.to_dict(),
        "user_id": user.id,
        "phone": user.phone,
        "current_tier": user.kyc_tier,
    }


@app.command("list")
def pending(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonOutput = False
) -> None:
    """The pending requests, oldest first."""

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        return [await _described(runtime, r) for r in await runtime.kyc.pending()]

    requests = run_with_runtime(settings(data_dir, database_url), work)
    if as_json or not requests:
        emit(requests if as_json else "no pending KYC requests", as_json)
    for request in [] if as_json else requests:
        emit(request, as_json, title=request["id"])


@app.command("approve")
def approve(
    request_id: RequestId,
    by: Operator = "operator",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOutput = False,
) -> None:
    """Approve a request: the user moves to the tier they asked for."""

    async def work(runtime: Runtime) -> dict[str, Any]:
        return await _described(runtime, await runtime.kyc.approve(request_id, by=by))

    emit(run_with_runtime(settings(data_dir, database_url), work), as_json, title="kyc request")


@app.command("reject")
def reject(
    request_id: RequestId,
    reason: Annotated[str, typer.Option("--reason", help="Why, as the user will read it.")],
    by: Operator = "operator",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOutput = False,
) -> None:
    """Reject a request, saying why; the user's tier stays as it is."""

    async def work(runtime: Runtime) -> dict[str, Any]:
        request = await runtime.kyc.reject(request_id, by=by, reason=reason)
        return await _described(runtime, request)

    emit(run_with_runtime(settings(data_dir, database_url), work), as_json, title="kyc request")
