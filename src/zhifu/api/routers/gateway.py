"""`/gateway.do`: the Alipay-compatible open API. Every answer is HTTP 200 with Alipay's
signed JSON (errors included), never problem+json: the SDKs cannot read anything else.
The exception are the methods a buyer's browser brings (page, wap and app pay): a 303 to
the hosted checkout of the trade, or an HTML error page naming the sub_code."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from zhifu.api.deps import RuntimeDep
from zhifu.openplatform import cashier, charsets, errors
from zhifu.runtime import Runtime
from zhifu.web import checkout
from zhifu.web.kit.session import see_other

router = APIRouter(tags=["open platform"])


async def merged_params(request: Request) -> dict[str, str]:
    """Query parameters merged with a urlencoded or multipart body (text fields only),
    url-decoded in the request's charset (openplatform/charsets.py); the first value of
    a repeated name counts."""
    params: dict[str, str] = {}
    query = request.scope.get("query_string", b"")
    content_type = request.headers.get("content-type", "")
    body = await request.body() if request.method == "POST" else b""
    charset = charsets.declared(query, body, content_type)
    sources: list[list[tuple[str, Any]]] = [charsets.decode_form(query, charset)]
    if content_type.lower().startswith("application/x-www-form-urlencoded"):
        sources.append(charsets.decode_form(body, charset))
    elif request.method == "POST":
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
    params = await merged_params(request)
    if cashier.serves(params.get("method", "")):
        return await open_cashier(request, runtime, params)
    answer = await runtime.openplatform.gateway.handle(params, base_url=str(request.base_url))
    return Response(content=answer.body, media_type=answer.media_type)


async def open_cashier(request: Request, runtime: Runtime, params: dict[str, str]) -> Response:
    """A buyer arrives with a merchant's signed order: on to the trade's checkout."""
    answer = await runtime.openplatform.gateway.answer(params, base_url=str(request.base_url))
    if answer["code"] == errors.SUCCESS:
        return see_other(checkout.page_url(answer["trade_no"]))
    visit = await checkout.current_visit(request, runtime)
    return checkout.status_page(
        visit,
        "The shop's payment request was refused",
        f"{answer['sub_msg']} ({answer['code']} {answer['sub_code']}). "
        "Nothing was charged: go back to the shop and try again.",
        status=400,
    )


for verb in ("GET", "POST"):
    router.add_api_route(
        "/gateway.do",
        gateway,
        methods=[verb],
        response_class=Response,
        operation_id=f"alipay_gateway_{verb.lower()}",
    )


@router.get("/gateway/bills/{token}", operation_id="alipay_bill_download", response_class=Response)
async def bill_download(token: str, runtime: RuntimeDep) -> Response:
    """A bill file behind a link from alipay.data.dataservice.bill.downloadurl.query:
    a zip of CSV, for as long as the link lives. An unknown or expired link is a 404."""
    bill = await runtime.openplatform.bills.download(token)
    disposition = f'attachment; filename="{bill.filename}"'
    return Response(
        bill.content, media_type="application/zip", headers={"Content-Disposition": disposition}
    )
