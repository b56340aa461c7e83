"""Every Prometheus metric tokenmeter exposes, in one place: the metrics catalog.

Each metric is declared through :func:`counter`, :func:`gauge` or
:func:`histogram`, which record its name, type, labels, unit and meaning in
:data:`CATALOG` (rendered into deploy/README.md by ``make schema``; a test
fails when a ``tokenmeter_*`` metric exists without an entry, or breaks the
naming rules: counters end in ``_total``, time is in ``_seconds``, base units only).

Cardinality: every label has a bounded value set. ``reason``, ``table``,
``token_class``, ``level`` are fixed lists; ``topic``/``partition``/``group``
follow the deployment. No tenant or model label is set directly: those go
through :class:`tokenmeter.observability.bounded.BoundedLabel`, which keeps
the first N values (or an allow-list) and folds the rest into ``other``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from prometheus_client import Counter, Gauge, Histogram

Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str            # as exposed (counters with their _total)
    kind: Kind
    help: str
    labels: tuple[str, ...]
    unit: str            # what one unit of the value is: events, tokens, rows, seconds, messages, keys, ...


CATALOG: list[MetricSpec] = []


def counter(name: str, unit: str, help: str, labels: Sequence[str] = ()) -> Counter:
    CATALOG.append(MetricSpec(name, "counter", help, tuple(labels), unit))
    return Counter(name, help, list(labels))


def gauge(name: str, unit: str, help: str, labels: Sequence[str] = ()) -> Gauge:
    CATALOG.append(MetricSpec(name, "gauge", help, tuple(labels), unit))
    return Gauge(name, help, list(labels))


def histogram(name: str, unit: str, help: str, labels: Sequence[str] = (), *,
              buckets: Sequence[float]) -> Histogram:
    CATALOG.append(MetricSpec(name, "histogram", help, tuple(labels), unit))
    return Histogram(name, help, list(labels), buckets=tuple(buckets))


EVENTS_RECEIVED = counter(
    "tokenmeter_events_received_total", "events",
    "Usage events read from the events topic, valid or not.",
)
EVENTS_VALID = counter(
    "tokenmeter_events_valid_total", "events",
    "Events that passed validation (before dedupe).",
)
EVENTS_INVALID = counter(
    "tokenmeter_events_invalid_total", "events",
    "Events dead-lettered, by machine-readable reason.",
    ["reason"],
)
EVENTS_DUPLICATE = counter(
    "tokenmeter_events_duplicate_total", "events",
    "Events skipped because their (tenant, id) was already counted.",
)
EVENTS_REDELIVERED = counter(
    "tokenmeter_events_redelivered_total", "events",
    "Redelivered events already folded before a crash or rebalance (skipped, not double-counted).",
)
EVENTS_COUNTED = counter(
    "tokenmeter_events_counted_total", "events",
    "Unique events folded into window totals.",
)
TOKENS_COUNTED = counter(
    "tokenmeter_tokens_total", "tokens",
    "Tokens folded into window totals, by token class.",
    ["token_class"],
)
SNAPSHOTS_EMITTED = counter(
    "tokenmeter_window_snapshots_emitted_total", "snapshots",
    "Cumulative window snapshots published.",
)
SINK_ROWS = counter(
    "tokenmeter_sink_rows_total", "rows",
    "Rows written to ClickHouse, by table.",
    ["table"],
)
SINK_FLUSH_SECONDS = histogram(
    "tokenmeter_sink_flush_seconds", "seconds",
    "Duration of one batched ClickHouse insert, by table.",
    ["table"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SINK_FAILURES = counter(
    "tokenmeter_sink_failures_total", "inserts",
    "Failed ClickHouse inserts (retried; offsets not committed).",
)
CONSUMER_LAG = gauge(
    "tokenmeter_consumer_lag_messages", "messages",
    "Messages behind the partition's end, per consumer group.",
    ["group", "topic", "partition"],
)
FRESHNESS_SECONDS = histogram(
    "tokenmeter_freshness_seconds", "seconds",
    "Seconds from an event's time to its row being stored in ClickHouse.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
)
PRODUCER_EVENTS_SENT = counter(
    "tokenmeter_producer_events_sent_total", "events",
    "Events acknowledged by Kafka to the producer SDK.",
)
PRODUCER_EVENTS_FAILED = counter(
    "tokenmeter_producer_events_failed_total", "events",
    "Events the producer SDK could not deliver (raised to caller).",
)
EVENTS_LATE = counter(
    "tokenmeter_events_late_total", "events",
    "Events counted although their window had ended before they arrived (within the lateness horizon).",
)
EVENTS_UNPRICED = counter(
    "tokenmeter_events_unpriced_total", "events",
    "Events counted for a model with no list price (stored with currency XXX and unpriced=true).",
)
STATE_KEYS = gauge(
    "tokenmeter_state_keys", "keys",
    "State held by the meter on this worker: tenant windows (table=windows; one key holds all models of a "
    "tenant's window) and remembered ids (table=seen).",
    ["table"],
)
STATE_EXPIRED = counter(
    "tokenmeter_state_expired_total", "keys",
    "Keys forgotten past their horizon, by table.",
    ["table"],
)
RECONCILE_DRIFT_WINDOWS = gauge(
    "tokenmeter_reconcile_drift_windows", "windows",
    "Windows whose stored totals differ from a recomputation from usage_events (last reconciliation).",
)
RECONCILE_DRIFT_TOKENS = gauge(
    "tokenmeter_reconcile_drift_tokens", "tokens",
    "Sum of absolute token differences between usage_windows and usage_events (last reconciliation).",
)
INPUT_GAPS = counter(
    "tokenmeter_input_gaps_total", "gaps",
    "Times the consumer handed the meter a record after a hole in its partition (the hole is then read directly).",
)
INPUT_GAP_RECORDS = counter(
    "tokenmeter_input_gap_records_total", "records",
    "Records the meter read itself to fill holes left by the consumer.",
)
STALE_RECORDS = counter(
    "tokenmeter_stale_records_total", "records",
    "Records the meter left to their partition's new owner because a rebalance began before it wrote them.",
)
INPUT_GAP_LOST = counter(
    "tokenmeter_input_gap_lost_total", "records",
    "Records of a hole already deleted by retention before they were metered.",
)
BUDGET_ALERTS = counter(
    "tokenmeter_budget_alerts_total", "alerts",
    "Budget thresholds reached and alerted on usage.alerts, by level.",
    ["level"],
)
TENANT_TOKENS = counter(
    "tokenmeter_tenant_tokens_total", "tokens",
    "Tokens counted per tenant and token class (tenants beyond the label bound are 'other').",
    ["tenant", "token_class"],
)
MODEL_TOKENS = counter(
    "tokenmeter_model_tokens_total", "tokens",
    "Tokens counted per provider, model and token class (models beyond the label bound are 'other').",
    ["provider", "model", "token_class"],
)
TENANT_COST = counter(
    "tokenmeter_tenant_cost_total", "currency units",
    "List-price money rated per tenant (bounded) and currency, as window snapshots grow; for trends: "
    "exact money is in ClickHouse.",
    ["tenant", "currency"],
)
MODEL_COST = counter(
    "tokenmeter_model_cost_total", "currency units",
    "List-price money rated per provider, model (bounded) and currency, as window snapshots grow.",
    ["provider", "model", "currency"],
)


def catalog_markdown() -> str:
    """The catalog as a Markdown table (deploy/README.md holds it between markers; `make schema` rewrites it)."""
    rows = ["| metric | type | labels | unit | meaning |", "|---|---|---|---|---|"]
    for spec in sorted(CATALOG, key=lambda s: s.name):
        labels = ", ".join(f"`{label}`" for label in spec.labels) or "-"
        rows.append(f"| `{spec.name}` | {spec.kind} | {labels} | {spec.unit} | {spec.help} |")
    return "\n".join(rows) + "\n"


def _initialise_known_labels() -> None:
    """Export 0 for every label value known in advance, so rates and alerts see a series from the start."""
    from tokenmeter.events.errors import REASONS

    for reason in REASONS:
        EVENTS_INVALID.labels(reason)
    for level in ("soft", "hard"):
        BUDGET_ALERTS.labels(level)
    for table in ("seen", "windows"):
        STATE_KEYS.labels(table)
        STATE_EXPIRED.labels(table)


_initialise_known_labels()
