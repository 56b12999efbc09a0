"""Alipay's bill files: a zip of two CSV files, the detail and its summary, in the layout
of Alipay's merchant bills, with Alipay's `#` comment lines around the table.

Encoded in GBK, as Alipay's are: reconciliation code written for Alipay decodes GBK, and
would garble UTF-8. The few characters GBK lacks (emoji in a subject, say) become `?`;
ids, times and amounts are ASCII and never change. Amounts are yuan with two decimals,
summed in fen. Free text that a spreadsheet would run as a formula is quoted with `'`.

Signs follow Alipay's bills: in the trade bill a refund's 商家实收 is negative and the
service fee is negative when charged, positive when returned; in the account bill
income is positive and spending negative.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from zhifu.openplatform.fields import BEIJING, BUYER_ID_PREFIX, alipay_time, yuan
from zhifu.reporting import PAYMENT, AccountBillLine, TradeBillLine
from zhifu.transfers.receipts import spreadsheet_safe

ENCODING = "gbk"
ZERO = "0.00"

TRADE_DETAIL_COLUMNS = (
    "支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号",
    "门店名称", "操作员", "终端号", "对方账户", "订单金额（元）", "商家实收（元）",
    "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）",
    "券名称", "商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号", "服务费（元）",
    "分润（元）", "备注",
)  # fmt: skip
TRADE_SUMMARY_COLUMNS = (
    "门店编号", "门店名称", "交易订单总笔数", "退款订单总笔数", "订单金额（元）", "商家实收（元）",
    "支付宝优惠（元）", "商家优惠（元）", "卡消费金额（元）", "服务费（元）", "分润（元）",
    "实收净额（元）",
)  # fmt: skip
ACCOUNT_DETAIL_COLUMNS = (
    "账务流水号", "业务流水号", "商户订单号", "商品名称", "发生时间", "对方账号",
    "收入金额（+元）", "支出金额（-元）", "账户余额（元）", "交易渠道", "业务类型", "备注",
)  # fmt: skip
ACCOUNT_SUMMARY_COLUMNS = (
    "业务类型", "收入笔数", "收入金额（+元）", "支出笔数", "支出金额（-元）", "总金额（元）",
)  # fmt: skip
CHANNEL = "zhifu"
ACCOUNT_KINDS = {
    "payment": "在线支付",
    "escrow": "在线支付",
    "refund": "交易退款",
    "payout": "转账",
    "fee": "收费",
}
TOTAL = "合计"
_RULE = "-" * 41


def merchant_account(merchant_id: int) -> str:
    """The merchant's account number in Alipay's form: a 2088 id and 0156."""
    return f"{BUYER_ID_PREFIX}{merchant_id:012d}0156"


def _chinese_time(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y年%m月%d日 %H:%M:%S")


@dataclass(frozen=True, slots=True)
class Heading:
    """What every file of one bill says about itself."""

    account: str
    label: str  # the period in file names: 20260101, or 202601 for a month
    start: datetime
    end: datetime
    exported_at: datetime

    def member(self, name: str) -> str:
        return f"{self.account}_{self.label}_{name}.csv"

    @property
    def filename(self) -> str:
        return f"{self.account}_{self.label}.csv.zip"


class _Sheet:
    """One CSV file of the zip: comment lines and rows, written as they come."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.writer = csv.writer(out, lineterminator="\r\n")

    def comment(self, text: str) -> None:
        self.out.write(f"#{text}\r\n")

    def row(self, cells: Sequence[str]) -> None:
        self.writer.writerow(cells)

    def opening(self, title: str, heading: Heading, table: str) -> None:
        self.comment(title)
        self.comment(f"账号：[{heading.account}]")
        start, end = _chinese_time(heading.start), _chinese_time(heading.end)
        self.comment(f"起始日期：[{start}]   终止日期：[{end}]")
        self.comment(f"{_RULE}{table}{_RULE[:-1]}")

    def closing(self, table: str, totals: Sequence[str], heading: Heading) -> None:
        self.comment(f"{_RULE}{table}结束{_RULE[:-5]}")
        for line in totals:
            self.comment(line)
        self.comment(f"导出时间：[{_chinese_time(heading.exported_at)}]")


@contextmanager
def _sheet(archive: zipfile.ZipFile, name: str) -> Iterator[_Sheet]:
    with (
        archive.open(name, "w") as raw,
        io.TextIOWrapper(raw, encoding=ENCODING, errors="replace", newline="") as out,
    ):
        yield _Sheet(out)


# The trade bill.


@dataclass
class _StoreTotals:
    trades: int = 0
    refunds: int = 0
    ordered: int = 0
    received: int = 0
    fees: int = 0

    def add(self, line: TradeBillLine) -> None:
        if line.kind == PAYMENT:
            self.trades += 1
            self.ordered += line.trade_amount
        else:
            self.refunds += 1
        self.received += _received(line)
        self.fees += _fee(line)

    def cells(self, store_id: str, store_name: str) -> list[str]:
        money = (self.ordered, self.received, 0, 0, 0, self.fees, 0, self.received + self.fees)
        return [store_id, store_name, str(self.trades), str(self.refunds), *map(yuan, money)]


def _received(line: TradeBillLine) -> int:
    return line.amount if line.kind == PAYMENT else -line.amount


def _fee(line: TradeBillLine) -> int:
    return -line.fee if line.kind == PAYMENT else line.fee


def _trade_row(line: TradeBillLine) -> list[str]:
    payment = line.kind == PAYMENT
    return [
        line.trade_no,
        line.out_trade_no,
        "交易" if payment else "退款",
        spreadsheet_safe(line.subject),
        alipay_time(line.created_at),
        alipay_time(line.finished_at),
        "" if line.store_id is None else str(line.store_id),
        spreadsheet_safe(line.store_name or ""),
        "",
        "" if line.terminal_id is None else str(line.terminal_id),
        line.buyer_phone or "",
        yuan(line.trade_amount),
        yuan(_received(line)),
        *[ZERO] * 5,
        "",
        ZERO,
        ZERO,
        line.out_request_no or "",
        yuan(_fee(line)),
        ZERO,
        "",
    ]


async def trade_bill(lines: AsyncIterator[TradeBillLine], heading: Heading) -> bytes:
    """The zip of 业务明细 and 业务明细(汇总)."""
    stores: dict[tuple[str, str], _StoreTotals] = defaultdict(_StoreTotals)
    everything, payments, refunds = _StoreTotals(), _StoreTotals(), _StoreTotals()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with _sheet(archive, heading.member("业务明细")) as sheet:
            sheet.opening("支付宝业务明细查询", heading, "业务明细列表")
            sheet.row(TRADE_DETAIL_COLUMNS)
            async for line in lines:
                sheet.row(_trade_row(line))
                store = "" if line.store_id is None else str(line.store_id)
                for totals in (stores[(store, line.store_name or "")], everything):
                    totals.add(line)
                (payments if line.kind == PAYMENT else refunds).add(line)
            sheet.closing(
                "业务明细列表",
                [
                    f"交易合计：{payments.trades}笔，商家实收共{yuan(payments.received)}元，"
                    f"商家优惠共{ZERO}元",
                    f"退款合计：{refunds.refunds}笔，商家实收退款共{yuan(refunds.received)}元，"
                    f"商家优惠退款共{ZERO}元",
                ],
                heading,
            )
        with _sheet(archive, heading.member("业务明细(汇总)")) as sheet:
            sheet.opening("支付宝业务汇总查询", heading, "业务汇总列表")
            sheet.row(TRADE_SUMMARY_COLUMNS)
            for (store_id, store_name), totals in sorted(stores.items()):
                sheet.row(totals.cells(store_id, spreadsheet_safe(store_name)))
            sheet.row(everything.cells(TOTAL, ""))
            sheet.closing("业务汇总列表", [], heading)
    return buffer.getvalue()


# The account bill.


@dataclass
class _KindTotals:
    incomes: int = 0
    income: int = 0
    spendings: int = 0
    spent: int = 0  # negative

    def add(self, amount: int) -> None:
        if amount > 0:
            self.incomes += 1
            self.income += amount
        else:
            self.spendings += 1
            self.spent += amount

    def cells(self, kind: str) -> list[str]:
        counts_and_sums = (str(self.incomes), yuan(self.income), str(self.spendings))
        return [kind, *counts_and_sums, yuan(self.spent), yuan(self.income + self.spent)]


def _account_kind(line: AccountBillLine) -> str:
    return ACCOUNT_KINDS.get(line.kind, line.kind)


def _account_row(line: AccountBillLine) -> list[str]:
    return [
        str(line.entry_id),
        line.business_no or "",
        line.out_no or "",
        spreadsheet_safe(line.subject),
        alipay_time(line.created_at),
        line.counterparty_phone or "",
        yuan(max(line.amount, 0), line.currency),
        yuan(min(line.amount, 0), line.currency),
        yuan(line.balance_after, line.currency),
        CHANNEL,
        _account_kind(line),
        spreadsheet_safe(line.description),
    ]


async def account_bill(lines: AsyncIterator[AccountBillLine], heading: Heading) -> bytes:
    """The zip of 账务明细 and 账务明细(汇总)."""
    kinds: dict[str, _KindTotals] = defaultdict(_KindTotals)
    everything = _KindTotals()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with _sheet(archive, heading.member("账务明细")) as sheet:
            sheet.opening("支付宝账务明细查询", heading, "账务明细列表")
            sheet.row(ACCOUNT_DETAIL_COLUMNS)
            async for line in lines:
                sheet.row(_account_row(line))
                kinds[_account_kind(line)].add(line.amount)
                everything.add(line.amount)
            sheet.closing(
                "账务明细列表",
                [
                    f"支出合计：{everything.spendings}笔，共{yuan(everything.spent)}元",
                    f"收入合计：{everything.incomes}笔，共{yuan(everything.income)}元",
                ],
                heading,
            )
        with _sheet(archive, heading.member("账务明细(汇总)")) as sheet:
            sheet.opening("支付宝账务汇总查询", heading, "账务汇总列表")
            sheet.row(ACCOUNT_SUMMARY_COLUMNS)
            for kind, totals in sorted(kinds.items()):
                sheet.row(totals.cells(kind))
            sheet.row(everything.cells(TOTAL))
            sheet.closing("账务汇总列表", [], heading)
    return buffer.getvalue()
