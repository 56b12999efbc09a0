"""Many SDK clients at once against one `zhifu serve`: the money adds up to what they were told.

24 unmodified fzlee SDK clients, each in a thread of its own, pay one merchant with
buyers' payment codes (alipay.trade.pay, bar_code) all at once. Then, all at once again,
they refund those trades in parts, four requests per trade from four different clients
(one a replay of another, and on the smaller trades more than was paid), while each also
takes a new payment for the same merchant. Afterwards every refund the clients were told
about exists exactly once, each buyer's wallet, the merchant's balance and each trade's
refunds match the answers exactly, and the ledger verifies.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.harness import ServerProcess
from tests.openplatform.sdk_apps import FZLEE, SdkApp, register_app
from tests.payments.conftest import Shop
from zhifu.money import parse_decimal
from zhifu.payments.acquiring import generate_payment_code
from zhifu.runtime import Runtime

pytestmark = FZLEE.required()

CLIENTS = 24
BUYERS = 8  # each buyer pays 2 * CLIENTS / BUYERS times: a device shows 6 codes a minute
FUNDS = 100_000  # each buyer's wallet, in fen
REFUNDS = (("r1", "10.00"), ("r2", "12.00"), ("r3", "15.00"), ("r1", "10.00"))  # with a replay
REFUSED_OVER_TOTAL = "40004 ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(data_dir=tmp_path_factory.mktemp("load"), database_url=database_url)
    yield process.start()
    process.stop()


@dataclass
class Buyer:
    user_id: int
    device_id: int
    secret: bytes

    def code(self, slot: int) -> str:
        """The payment code the buyer's wallet shows in this slot now."""
        return generate_payment_code(self.device_id, self.secret, datetime.now(UTC), slot=slot)


@dataclass
class Sale:
    out_trade_no: str
    total: str
    buyer: Buyer


async def buyers(runtime: Runtime) -> list[Buyer]:
    made = []
    for _ in range(BUYERS):
        user_id = await Shop(runtime).consumer(balance=FUNDS)
        new = await runtime.payments.devices.register(user_id, "till test phone")
        made.append(Buyer(user_id, new.device.id, new.code_secret))
    return made


def pay_call(sale: Sale, slot: int) -> dict[str, Any]:
    biz = {
        "out_trade_no": sale.out_trade_no,
        "scene": "bar_code",
        "auth_code": sale.buyer.code(slot),
        "total_amount": sale.total,
        "subject": "load",
    }
    return {"method": "alipay.trade.pay", "biz": biz}


def refund_call(sale: Sale, number: str, amount: str) -> dict[str, Any]:
    biz = {"out_trade_no": sale.out_trade_no, "out_request_no": number, "refund_amount": amount}
    return {"method": "alipay.trade.refund", "biz": biz}


def outcome(result: dict[str, Any]) -> str:
    assert "response" in result, result  # the SDK verified every answer's signature
    node = result["response"]
    return node["code"] if node["code"] == "10000" else f"{node['code']} {node.get('sub_code')}"


def fen(text: str) -> int:
    return parse_decimal(text, "CNY")


def sales(buyers: list[Buyer], first_total: int) -> list[Sale]:
    return [
        Sale(f"L{uuid.uuid4().hex[:16]}", f"{first_total + c}.00", buyers[c % BUYERS])
        for c in range(CLIENTS)
    ]


def check_paid(sale: Sale, result: dict[str, Any], paid: dict[str, Sale]) -> None:
    assert outcome(result) == "10000", result
    node = result["response"]
    assert (node["trade_status"], node["total_amount"]) == ("TRADE_SUCCESS", sale.total)
    assert node["buyer_user_id"] == f"2088{sale.buyer.user_id:012d}"
    paid[node["trade_no"]] = sale


async def test_concurrent_sdk_clients_pay_and_refund_one_merchant_exactly(
    server: ServerProcess, runtime: Runtime
) -> None:
    shop = Shop(runtime)
    merchant = await shop.merchant(fee_rate_ppm=0)  # so the merchant keeps what is paid
    app: SdkApp = await register_app(runtime, FZLEE, f"{server.url}/gateway.do", merchant.id)
    payers = await buyers(runtime)
    paid: dict[str, Sale] = {}  # trade_no -> sale, for every payment a client was told of

    first = sales(payers, 30)  # 30.00 to 53.00: below 37.00, the three refunds do not fit
    results = app.run_clients([[pay_call(sale, c // BUYERS)] for c, sale in enumerate(first)])
    for sale, (result,) in zip(first, results, strict=True):
        check_paid(sale, result, paid)

    # Client c: refunds of trades c, c+1, c+2, c+3 (the j-th request of trade c+j), and
    # a new payment in the middle. Each trade's four requests come from four clients.
    second = sales(payers, 20)
    clients: list[list[dict[str, Any]]] = []
    for c, sale in enumerate(second):
        calls = [refund_call(first[(c + j) % CLIENTS], *REFUNDS[j]) for j in range(len(REFUNDS))]
        calls.insert(2, pay_call(sale, 3 + c // BUYERS))
        clients.append(calls)
    results = app.run_clients(clients)

    told: dict[tuple[str, str], set[str]] = defaultdict(set)  # (out_trade_no, number)
    fund_changes: dict[tuple[str, str], set[str]] = defaultdict(set)
    for c, answers in enumerate(results):
        check_paid(second[c], answers.pop(2), paid)
        for j, result in enumerate(answers):
            sale, (number, amount) = first[(c + j) % CLIENTS], REFUNDS[j]
            said = outcome(result)
            assert said in ("10000", REFUSED_OVER_TOTAL), result
            if said == "10000":
                assert result["response"]["send_back_fee"] == amount
                told[sale.out_trade_no, number].add(amount)
                fund_changes[sale.out_trade_no, number].add(result["response"]["fund_change"])
    assert all(changes >= {"Y"} for changes in fund_changes.values())  # one moved money

    refunded: dict[str, int] = defaultdict(int)  # out_trade_no -> fen
    granted: dict[str, int] = defaultdict(int)  # out_trade_no -> refunds made
    for (out_trade_no, _), amounts in told.items():
        (amount,) = amounts  # a replay is told the same amount
        refunded[out_trade_no] += fen(amount)
        granted[out_trade_no] += 1
    for sale in first:  # from 30.00 any two of the three fit, all three from 37.00
        assert granted[sale.out_trade_no] == (3 if fen(sale.total) >= fen("37.00") else 2)

    # What the server holds is exactly what the clients were told.
    for trade_no, sale in paid.items():
        trade = await runtime.payments.trades.get(merchant.id, trade_no=trade_no)
        assert trade.amount == fen(sale.total)
        assert trade.refunded_amount == refunded[sale.out_trade_no]
        stored = await runtime.payments.refunds.list_refunds(merchant.id, trade_no)
        assert sorted((r.out_request_no, r.amount) for r in stored) == sorted(
            (number, fen(amount))
            for (out_trade_no, number), (amount,) in told.items()
            if out_trade_no == sale.out_trade_no
        )
    for buyer in payers:
        own = [s for s in paid.values() if s.buyer is buyer]
        spent = sum(fen(s.total) - refunded[s.out_trade_no] for s in own)
        assert await shop.wallet_balance(buyer.user_id) == FUNDS - spent
    kept = sum(fen(s.total) for s in paid.values()) - sum(refunded.values())
    balances = await runtime.payments.merchants.balances(merchant.id)
    assert balances["pending_settlement"] + balances["available"] == kept
    report = await runtime.ledger.verify()
    assert report.ok, report.breaches
