"""The gateway benchmark in its smallest form: both APIs pay, every gateway answer
verifies, and the ledger verifies. (No timing is asserted: figures belong in
docs/benchmarks.md.)"""

from __future__ import annotations

from zhifu.benchmarks.gateway import run_gateway_bench


def test_gateway_bench_smallest_form(server_urls: dict[str, str]) -> None:
    result = run_gateway_bench(server_urls["embedded"], None, clients=2, seconds=1.0)
    rest, gateway = result["levels"]
    assert (rest["api"], gateway["api"]) == ("rest", "gateway")
    for row in (rest, gateway):
        assert row["clients"] == 2
        assert row["payments"] > 0 and row["errors"] == 0, row
        assert row["p50_ms"] <= row["p99_ms"]
        assert row["client_cpu_ms_per_payment"] > 0
    assert gateway["client_sign_ms_per_payment"] > 0
    assert gateway["client_verify_ms_per_payment"] > 0
    assert result["gateway_vs_rest"] > 0
    assert result["ledger_verified"] is True
