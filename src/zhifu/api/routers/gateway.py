"""`/gateway.do`: the Alipay-compatible open API. Every answer is HTTP 200 with Alipay's
signed JSON (errors included), never problem+json: the SDKs cannot read anything else."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from zhifu.api.deps import RuntimeDep

router = APIRouter(tags=["open platform"])
MEDIA_TYPE = "application/json;charset=utf-8"


async def merged_params(request: Request) -> dict[str, str]:
    """Query parameters merged with a urlencoded or multipart body (text fields only),
    url-decoded; the first value of a repeated name counts."""
    params: dict[str, str] = {}
    sources: list[list[tuple[str, Any]]] = [request.query_params.multi_items()]
    if request.method == "POST":
        try:
            form = await request.form()
        except Exception:  # a malformed body: the gateway answers with what is missing
            form = None
        if form is not None:
            sources.append(form.multi_items())
    for items in sources:
        for name, value in items:
            if isinstance(value, str):
                params.setdefault(name, value)
    return params


async def gateway(request: Request, runtime: RuntimeDep) -> Response:
    """Alipay's gateway: common parameters, RSA2/RSA signature, `biz_content`."""
    body = await runtime.openplatform.gateway.handle(await merged_params(request))
    return Response(content=body.encode("utf-8"), media_type=MEDIA_TYPE)


for verb in ("GET", "POST"):
    router.add_api_route(
        "/gateway.do",
        gateway,
        methods=[verb],
        response_class=Response,
        operation_id=f"alipay_gateway_{verb.lower()}",
    )
