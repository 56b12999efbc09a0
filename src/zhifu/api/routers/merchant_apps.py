"""A merchant's side of the open platform over the REST API: authorising service
providers' (ISV) apps to act for it, and the platform key its own apps are signed with.

See docs/alipay-compatibility.md ("ISV" and "Platform key rotation"). Retrying a grant
is safe without an Idempotency-Key: the new code replaces the unused one, so at most
one code per app is ever live (zhifu keeps only its hash, so it cannot replay it).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from zhifu.api.auth import CurrentMerchant
from zhifu.api.deps import RuntimeDep
from zhifu.api.openapi import refusals
from zhifu.api.schemas.merchant import AppPlatformKeysOut, AuthorisationsOut, GrantedCodeOut
from zhifu.errors import Conflict, NotFound
from zhifu.openplatform.keys import PlatformKey

router = APIRouter(
    prefix="/v1/merchant", tags=["merchant apps"], responses=refusals(NotFound, Conflict)
)

APP_ID_PATTERN = "^[0-9]{16}$"
AppId = Annotated[str, Path(pattern=APP_ID_PATTERN, description="A 16-digit app_id")]


class GrantRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    app_id: str = Field(pattern=APP_ID_PATTERN, description="The service provider's app")


@router.post("/app-authorisations", status_code=201, response_model=GrantedCodeOut)
async def grant(
    body: GrantRequest, merchant: CurrentMerchant, runtime: RuntimeDep
) -> dict[str, Any]:
    """A one-time `app_auth_code` for the ISV app, valid 10 minutes: hand it to the service
    provider, who exchanges it through alipay.open.auth.token.app."""
    granted = await runtime.openplatform.authorisations.grant(merchant, body.app_id)
    return granted.to_dict()


@router.get("/app-authorisations", response_model=AuthorisationsOut)
async def list_authorisations(merchant: CurrentMerchant, runtime: RuntimeDep) -> dict[str, Any]:
    """Every app the merchant has authorised, with its state; never a token."""
    found = await runtime.openplatform.authorisations.list_granted(merchant.id)
    return {"app_authorisations": [authorisation.to_dict() for authorisation in found]}


@router.delete("/app-authorisations/{app_id}", status_code=204)
async def revoke(app_id: AppId, merchant: CurrentMerchant, runtime: RuntimeDep) -> Response:
    """Revoke at once: the ISV's token and any unused code stop working (again: 204)."""
    await runtime.openplatform.authorisations.revoke(merchant.id, app_id)
    return Response(status_code=204)


async def _keys(runtime: RuntimeDep, signing: PlatformKey, app_id: str) -> dict[str, Any]:
    newest = await runtime.openplatform.keys.current()
    return {"app_id": app_id, "signing": signing.to_dict(), "newest": newest.to_dict()}


@router.get("/apps/{app_id}/platform-key", response_model=AppPlatformKeysOut)
async def platform_key(
    app_id: AppId, merchant: CurrentMerchant, runtime: RuntimeDep
) -> dict[str, Any]:
    """The platform key that signs for this app now, and the newest one: when they
    differ, configure the newest as the alipay public key, then switch."""
    signing = await runtime.openplatform.platform_key_for(app_id, merchant.id)
    return await _keys(runtime, signing, app_id)


@router.post("/apps/{app_id}/platform-key/use-newest", response_model=AppPlatformKeysOut)
async def use_newest(
    app_id: AppId, merchant: CurrentMerchant, runtime: RuntimeDep
) -> dict[str, Any]:
    """Sign for this app with the newest platform key from now on (again: no change)."""
    signing = await runtime.openplatform.use_newest_platform_key(app_id, merchant.id)
    return await _keys(runtime, signing, app_id)
