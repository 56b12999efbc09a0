"""Bearer authentication: `CurrentUser` is the user whose session token came with the call.

Tokens come from POST /v1/sessions and travel as `Authorization: Bearer <token>`. A
missing, malformed, unknown or expired token is a 401 problem+json (`unauthorized`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from zhifu.api.deps import RuntimeDep
from zhifu.errors import Unauthorized
from zhifu.identity import User
from zhifu.merchants import Merchant

bearer = HTTPBearer(auto_error=False, description="A session token from POST /v1/sessions")


async def current_user(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("sign in first: send Authorization: Bearer <session token>")
    return await runtime.users.authenticate(credentials.credentials)


CurrentUser = Annotated[User, Depends(current_user)]


merchant_bearer = HTTPBearer(
    auto_error=False, scheme_name="MerchantKey", description="A merchant secret key, sk_..."
)


async def current_merchant(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(merchant_bearer)],
) -> Merchant:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("send your merchant secret key: Authorization: Bearer sk_...")
    return await runtime.payments.merchants.authenticate(credentials.credentials)


CurrentMerchant = Annotated[Merchant, Depends(current_merchant)]
