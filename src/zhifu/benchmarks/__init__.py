"""Benchmarks of zhifu against the PostgreSQL server it runs on (`zhifu bench ...`)."""

from zhifu.benchmarks.ledger import print_report, run_ledger_bench

__all__ = ["print_report", "run_ledger_bench"]
