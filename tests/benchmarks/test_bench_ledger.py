"""The ledger benchmark in its smallest form: it runs end to end and the ledger verifies.

No timing is asserted: the figures belong in docs/benchmarks.md, not in a test.
"""

from __future__ import annotations

from zhifu.benchmarks.ledger import MODES, WORKLOADS, print_report, run_ledger_bench


def test_ledger_bench_smallest_form(server_urls: dict[str, str]) -> None:
    result = run_ledger_bench(
        server_urls["embedded"],
        None,
        accounts=200,
        transfers=300,
        clients=2,
        seconds=1.0,
        short=True,
        processes=1,
        submitters=32,
        bulk_size=50,
        bulk_callers=1,
        hot_shards=4,
    )

    assert result["server"]["synchronous_commit"] != "off"
    assert [p["clients"] for p in result["pgbench"]] == [2]
    assert result["pgbench"][0]["tps"] > 0
    assert {(r["workload"], r["mode"]) for r in result["runs"]} == {
        (w, m) for w in WORKLOADS for m in MODES
    }
    for run in result["runs"]:
        assert 0 < run["transfers"] <= 300
        assert run["refused"] == 0
        assert run["tps"] > 0
        assert run["p50_ms"] <= run["p99_ms"]
        assert run["vs_pgbench"] is not None
    hot = [r for r in result["runs"] if r["workload"] == "hot"]
    assert all("hot_vs_uniform" in r for r in hot)
    assert len(result["targets"]) == len(result["runs"]) + len(hot)
    assert result["verify"]["ok"], result["verify"]["breaches"]
    assert result["verify"]["counts"]["ledger_account"] == 200 + 2
    print_report(result)
