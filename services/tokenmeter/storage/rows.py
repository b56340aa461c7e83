"""Published messages -> ClickHouse rows. Pure and idempotent: the same message gives the same row.

The sink no longer uses these: it inserts the published JSON and ClickHouse builds the rows
(migrations 0009-0012). They stay as the Python statement of the same mapping, which tests use
to write fixtures and to check, column by column, that the JSON path stores what they would.

Messages published before price bands existed have no ``price_band``: they are band 0.

Times go into the ``DateTime64(3, 'UTC')`` columns as integer epoch milliseconds, which
clickhouse-connect writes unchanged as the column's ticks. A ``datetime`` would be converted
back to ticks in Python, value by value: building and converting two per event row was a
tenth of the sink's cost in the benchmark profile, for the same stored value.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from tokenmeter.events.models import TOKEN_CLASSES

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
COST_COLUMNS: Final = tuple(c.removesuffix("_tokens") + "_cost" for c in TOKEN_CLASSES)

EVENT_COLUMNS: Final = (
    "tenant", "event_id", "time", "window_start", "source", "provider", "model", "service_tier", "price_band",
    "batch", "api_key_id", "project", "user", "region", "requests", *TOKEN_CLASSES, "position",
)

WINDOW_COLUMNS: Final = (
    "tenant", "window_start", "window_end", "provider", "model", "service_tier", "price_band", "requests", "events",
    *TOKEN_CLASSES, *COST_COLUMNS, "request_cost", "cost_total", "currency", "unpriced", "version",
    "emitted_at",
)


def from_ms(ms: int) -> datetime:
    """Exact conversion of epoch milliseconds to an aware UTC datetime."""
    return _EPOCH + timedelta(milliseconds=ms)


def event_row(msg: dict[str, Any]) -> list[Any]:
    """A row of ``usage_events`` (``EVENT_COLUMNS`` order) from an accepted-event message."""
    return [
        msg["tenant"], msg["id"], msg["time_ms"], msg["window_start_ms"], msg["source"],
        msg["provider"], msg["model"], msg["service_tier"], msg.get("price_band", 0), msg["batch"], msg["api_key_id"],
        msg["project"], msg["user"], msg["region"], msg["requests"], *msg["tokens"], msg["position"],
    ]


def window_row(msg: dict[str, Any]) -> list[Any]:
    """A row of ``usage_windows`` (``WINDOW_COLUMNS`` order) from a window snapshot message."""
    return [
        msg["tenant"], msg["window_start_ms"], msg["window_end_ms"], msg["provider"],
        msg["model"], msg["service_tier"], msg.get("price_band", 0), msg["requests"], msg["events"], *msg["tokens"],
        *(Decimal(c) for c in msg["costs"]), Decimal(msg["request_cost"]), Decimal(msg["cost_total"]),
        msg["currency"], msg["unpriced"], msg["version"], msg["emitted_at_ms"],
    ]


def model_usage(rows: list[tuple[Any, ...]]) -> tuple[dict[str, Any], list[str]]:
    """Rows of ``queries.period_usage`` -> ({"provider/model": ModelUsage}, models with unpriced usage)."""
    from tokenmeter.pricing.plans import ModelUsage

    usage, unpriced = {}, []
    for provider, model, tokens, cost, currencies in rows:
        if "XXX" in currencies:
            unpriced.append(f"{provider}/{model}")
        usage[f"{provider}/{model}"] = ModelUsage(int(tokens), Decimal(cost))
    return usage, unpriced
