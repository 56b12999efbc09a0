"""Prometheus metrics shared by every part of zhifu (exposed at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "zhifu_http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "zhifu_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
ERRORS = Counter("zhifu_errors_total", "Errors returned to clients, by stable code", ["code"])
LEDGER_COMMANDS = Counter(
    "zhifu_ledger_commands_total", "Ledger commands decided", ["command", "outcome"]
)
LEDGER_BATCH_SIZE = Histogram(
    "zhifu_ledger_batch_size",
    "Commands applied per ledger transaction",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
WEBHOOK_DELIVERIES = Counter(
    "zhifu_webhook_deliveries_total",
    "Webhook attempts by what they did to the delivery "
    "(succeeded, retrying, failed, superseded by a newer attempt)",
    ["outcome"],
)
WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "zhifu_webhook_attempt_seconds",
    "Time from sending a webhook to its response or error",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
