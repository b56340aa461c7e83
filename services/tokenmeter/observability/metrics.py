"""Every Prometheus metric tokenmeter exposes, in one place.

Naming follows Prometheus conventions: counters end in ``_total``, durations
are ``_seconds``. Labels are bounded: ``reason`` (a fixed list), ``table``,
``token_class``, ``topic``/``partition`` (the partition count). No tenant or
model labels here: their cardinality is unbounded (the observability issue
adds them behind a top-N policy).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_RECEIVED = Counter(
    "tokenmeter_events_received_total", "Usage events read from the events topic, valid or not.")
EVENTS_VALID = Counter(
    "tokenmeter_events_valid_total", "Events that passed validation (before dedupe).")
EVENTS_INVALID = Counter(
    "tokenmeter_events_invalid_total", "Events dead-lettered, by machine-readable reason.", ["reason"])
EVENTS_DUPLICATE = Counter(
    "tokenmeter_events_duplicate_total", "Events skipped because their (tenant, id) was already counted.")
EVENTS_REDELIVERED = Counter(
    "tokenmeter_events_redelivered_total",
    "Redelivered events already folded before a crash or rebalance (skipped, not double-counted).")
EVENTS_COUNTED = Counter(
    "tokenmeter_events_counted_total", "Unique events folded into window totals.")
TOKENS_COUNTED = Counter(
    "tokenmeter_tokens_total", "Tokens folded into window totals, by token class.", ["token_class"])
SNAPSHOTS_EMITTED = Counter(
    "tokenmeter_window_snapshots_emitted_total", "Cumulative window snapshots published.")
SINK_ROWS = Counter(
    "tokenmeter_sink_rows_total", "Rows written to ClickHouse, by table.", ["table"])
SINK_FLUSH_SECONDS = Histogram(
    "tokenmeter_sink_flush_seconds", "Duration of one batched ClickHouse insert, by table.", ["table"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
SINK_FAILURES = Counter(
    "tokenmeter_sink_failures_total", "Failed ClickHouse inserts (retried; offsets not committed).")
CONSUMER_LAG = Gauge(
    "tokenmeter_consumer_lag_messages", "Messages behind the partition's end, per consumer group.",
    ["group", "topic", "partition"])
FRESHNESS_SECONDS = Histogram(
    "tokenmeter_freshness_seconds", "Seconds from an event's time to its row being stored in ClickHouse.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600))
PRODUCER_EVENTS_SENT = Counter(
    "tokenmeter_producer_events_sent_total", "Events acknowledged by Kafka to the producer SDK.")
PRODUCER_EVENTS_FAILED = Counter(
    "tokenmeter_producer_events_failed_total", "Events the producer SDK could not deliver (raised to caller).")
EVENTS_LATE = Counter(
    "tokenmeter_events_late_total",
    "Events counted although their window had ended before they arrived (within the lateness horizon).")
EVENTS_UNPRICED = Counter(
    "tokenmeter_events_unpriced_total",
    "Events counted for a model with no list price (stored with currency XXX and unpriced=true).")
STATE_KEYS = Gauge(
    "tokenmeter_state_keys", "Keys held in the meter's tables on this worker, by table.", ["table"])
STATE_EXPIRED = Counter(
    "tokenmeter_state_expired_total", "Keys forgotten past their horizon, by table.", ["table"])
RECONCILE_DRIFT_WINDOWS = Gauge(
    "tokenmeter_reconcile_drift_windows",
    "Windows whose stored totals differ from a recomputation from usage_events (last reconciliation).")
RECONCILE_DRIFT_TOKENS = Gauge(
    "tokenmeter_reconcile_drift_tokens",
    "Sum of absolute token differences between usage_windows and usage_events (last reconciliation).")
INPUT_GAPS = Counter(
    "tokenmeter_input_gaps_total",
    "Times the consumer handed the meter a record after a hole in its partition (the hole is then read directly).")
INPUT_GAP_RECORDS = Counter(
    "tokenmeter_input_gap_records_total", "Records the meter read itself to fill holes left by the consumer.")
INPUT_GAP_LOST = Counter(
    "tokenmeter_input_gap_lost_total", "Records of a hole already deleted by retention before they were metered.")
BUDGET_ALERTS = Counter(
    "tokenmeter_budget_alerts_total", "Budget thresholds reached and alerted on usage.alerts, by level.", ["level"])
