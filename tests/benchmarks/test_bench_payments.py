"""The payments benchmark in its smallest form: it runs, pays, and the ledger verifies.
(No timing is asserted: figures belong in docs/benchmarks.md.)"""

from __future__ import annotations

from zhifu.benchmarks.payments import run_payments_bench


def test_payments_bench_smallest_form(server_urls: dict[str, str]) -> None:
    result = run_payments_bench(
        server_urls["embedded"], None, clients=(2,), merchant_cases=(3, 1), seconds=1.0
    )
    assert [(row["merchants"], row["clients"]) for row in result["levels"]] == [(3, 2), (1, 2)]
    assert all(row["payments"] > 0 and row["errors"] == 0 for row in result["levels"])
    assert set(result["hot_ratio"]) == {2}
    assert result["ledger_verified"] is True
