"""`/v3/alipay/trade/...`: Alipay's v3 OpenAPI (JSON bodies, signatures in headers).
Answers are JSON with the v3 response headers, refusals 4xx/5xx with `code`/`message`
(openplatform/v3.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from zhifu.api.deps import RuntimeDep
from zhifu.openplatform.v3 import METHODS, V3Request

router = APIRouter(tags=["open platform"])
MEDIA_TYPE = "application/json;charset=utf-8"


def _target(request: Request) -> str:
    """The path and query exactly as the client sent (and signed) them."""
    path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    return (path + b"?" + query if query else path).decode("latin-1")


async def v3_call(request: Request, runtime: RuntimeDep) -> Response:
    """One v3 method: the Authorization header's signature, then the gateway's handler."""
    method, _ = METHODS[request.url.path]
    received = V3Request(
        verb=request.method,
        target=_target(request),
        query=dict(request.query_params),
        body=await request.body(),
        headers={name.lower(): value for name, value in request.headers.items()},
        base_url=str(request.base_url),
    )
    answer = await runtime.openplatform.v3.handle(method, received)
    return Response(
        answer.body.encode("utf-8"),
        status_code=answer.status,
        media_type=MEDIA_TYPE,
        headers=answer.headers,
    )


for path, (method, verbs) in METHODS.items():
    name = "alipay_v3_" + method.removeprefix("alipay.").replace(".", "_")
    for verb in verbs:  # one route per verb: an operation id names one operation
        router.add_api_route(
            path,
            v3_call,
            methods=[verb],
            response_class=Response,
            operation_id=name if len(verbs) == 1 else f"{name}_{verb.lower()}",
        )
