"""Users and sessions: sign up, sign in, the profile, the payment PIN, KYC tier requests."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field

from zhifu.api.auth import CurrentUser, bearer
from zhifu.api.deps import IdempotencyKey, OptionalIdempotencyKey, RuntimeDep
from zhifu.api.openapi import refusals
from zhifu.api.schemas.users import KycRequestOut, KycStatusOut, ProfileOut, SessionOut, UserOut
from zhifu.errors import Conflict, Forbidden, Locked, NotFound, RateLimited, Unauthorized
from zhifu.identity import User
from zhifu.runtime import Runtime
from zhifu.web.kit.session import client_address

router = APIRouter(
    prefix="/v1",
    tags=["users"],
    responses=refusals(Unauthorized, Forbidden, NotFound, Conflict, Locked, RateLimited),
)


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str = Field(max_length=32, description="11-digit Chinese mobile or +E.164")
    password: str = Field(max_length=256, description="8 to 128 characters")


class SignUp(Credentials):
    sandbox: bool = Field(
        False, strict=True, description="A developer's test buyer: holds only sandbox money"
    )


class PinChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pin: str = Field(max_length=16, description="6 digits, not a run nor all one digit")
    current_pin: str | None = Field(None, max_length=16, description="Needed to change it")


class KycChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier: int = Field(strict=True, ge=0, le=3, description="KYC tier, 0 to 3")


async def profile(runtime: Runtime, user: User) -> dict[str, Any]:
    balances = await runtime.transfers.balances(user.id)
    return {
        **user.to_dict(),
        "limits": user.limits.to_dict(),
        "balances": [balance.to_dict() for balance in balances],
    }


@router.post("/users", status_code=201, response_model=UserOut)
async def sign_up(body: SignUp, runtime: RuntimeDep, key: OptionalIdempotencyKey) -> dict[str, Any]:
    """Register with a phone number and password; opens the user's CNY wallet (tier 0).
    A sandbox user's wallet is in the sandbox book: it can pay only sandbox merchants."""
    user = await runtime.users.signup(
        body.phone, body.password, sandbox=body.sandbox, idempotency_key=key
    )
    return user.to_dict()


@router.post("/sessions", status_code=201, response_model=SessionOut)
async def sign_in(body: Credentials, runtime: RuntimeDep, request: Request) -> dict[str, Any]:
    """Exchange phone and password for a bearer token valid for 30 days. Wrong passwords
    lock the phone for a while (423 `login_locked`), and too many failures from one
    address pause its sign-ins (429 `rate_limited`); both say when to retry."""
    session = await runtime.users.login(body.phone, body.password, client=client_address(request))
    return session.to_dict()


@router.delete("/sessions/current", status_code=204)
async def sign_out(
    user: CurrentUser,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Response:
    """End the session whose token made this call."""
    assert credentials is not None  # CurrentUser has already checked it
    await runtime.users.logout(credentials.credentials)
    return Response(status_code=204)


@router.get("/me", response_model=ProfileOut)
async def me(user: CurrentUser, runtime: RuntimeDep) -> dict[str, Any]:
    """The signed-in user: profile, KYC limits, and the balance of each wallet."""
    return await profile(runtime, user)


@router.put("/me/pin", status_code=204)
async def set_pin(body: PinChange, user: CurrentUser, runtime: RuntimeDep) -> Response:
    """Set the payment PIN; changing it needs the current one (wrong tries count)."""
    await runtime.users.set_pin(user.id, body.pin, current_pin=body.current_pin)
    return Response(status_code=204)


@router.post("/me/kyc", status_code=202, response_model=KycRequestOut)
async def request_kyc_tier(
    body: KycChange, user: CurrentUser, runtime: RuntimeDep, key: IdempotencyKey
) -> dict[str, Any]:
    """Ask for a higher KYC tier: files a request (202, `pending`) that an identity check
    or an operator approves or rejects; the tier changes only then. One request is
    pending at a time (409 `kyc_request_pending`)."""
    request = await runtime.kyc.request(user.id, body.tier, idempotency_key=key)
    return request.to_dict()


@router.get("/me/kyc", response_model=KycStatusOut)
async def kyc_status(user: CurrentUser, runtime: RuntimeDep) -> dict[str, Any]:
    """The current KYC tier and its limits, and the latest tier request (pending or
    decided), if any."""
    latest = await runtime.kyc.latest(user.id)
    return {
        "kyc_tier": user.kyc_tier,
        "limits": user.limits.to_dict(),
        "request": latest and latest.to_dict(),
    }
