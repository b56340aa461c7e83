"""What the meter publishes: accepted events and rated window snapshots. Pure conversions.

Both are JSON so any consumer can read them: a message holds one object or an
array of them (the meter batches per tenant and per tenant window); both are idempotent to apply:
an accepted event is keyed by (tenant, id), a snapshot carries a version that
only grows for its window key (the highest source position folded into it).
"""

from __future__ import annotations

from typing import Any

import orjson

from tokenmeter.events.models import UsageEvent
from tokenmeter.pricing.models import Rated
from tokenmeter.stream.state import WindowKey, WindowValue
from tokenmeter.stream.windows import window_end


def accepted_doc(event: UsageEvent, pos: int, window_start_ms: int, band: int = 0) -> dict[str, Any]:
    """One accepted event as the sink stores it; a message carries a JSON array of these."""
    d = event.data
    return {
        "tenant": event.subject,
        "id": event.id,
        "time_ms": event.time_ms,
        "window_start_ms": window_start_ms,
        "source": event.source,
        "provider": d.provider,
        "model": d.model,
        "service_tier": d.service_tier,
        "price_band": band,
        "batch": d.batch,
        "api_key_id": d.api_key_id,
        "project": d.project,
        "user": d.user,
        "region": d.region,
        "requests": d.requests,
        "tokens": event.token_counts(),
        "position": pos,
    }


def docs_message(docs: list[dict[str, Any]]) -> bytes:
    """Several documents in one message, a JSON array: a tenant's accepted events of a run, or the
    snapshots of a tenant window's models."""
    return orjson.dumps(docs)


def snapshot_message(key: WindowKey, value: WindowValue, rated: Rated, window_ms: int, now_ms: int) -> bytes:
    """One window's snapshot as a message of its own (repairs send these)."""
    return orjson.dumps(snapshot_doc(key, value, rated, window_ms, now_ms))


def snapshot_doc(key: WindowKey, value: WindowValue, rated: Rated, window_ms: int, now_ms: int) -> dict[str, Any]:
    return {
        "tenant": key.tenant,
        "window_start_ms": key.start_ms,
        "window_end_ms": window_end(key.start_ms, window_ms),
        "provider": key.provider,
        "model": key.model,
        "service_tier": key.service_tier,
        "price_band": key.band,
        "requests": value.requests,
        "events": value.events,
        "tokens": value.tokens,
        "costs": [str(c) for c in rated.costs],
        "request_cost": str(rated.request_cost),
        "cost_total": str(rated.total),
        "currency": rated.currency,
        "unpriced": rated.unpriced,
        "version": value.watermark,
        "emitted_at_ms": now_ms,
    }


def load(raw: bytes) -> dict[str, Any]:
    doc = orjson.loads(raw)
    if not isinstance(doc, dict):
        raise ValueError("expected a JSON object")
    return doc
