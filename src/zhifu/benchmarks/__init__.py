"""Benchmarks of zhifu against the PostgreSQL server it runs on (`zhifu bench ...`)."""
