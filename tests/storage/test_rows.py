from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson

from tests.stream.test_state import ev
from tokenmeter.pricing.catalog import builtin_price_book
from tokenmeter.pricing.rating import rate
from tokenmeter.storage.rows import EVENT_COLUMNS, WINDOW_COLUMNS, event_row, from_ms, window_row
from tokenmeter.stream.messages import accepted_doc, docs_message, load, snapshot_message
from tokenmeter.stream.state import Added, WindowValue, position, window_key

NOW_MS = 1_793_872_800_000  # 2026-11-05T10:00Z: the built-in book's current prices


def test_from_ms_is_exact() -> None:
    assert from_ms(1_793_872_800_123) == datetime(2026, 11, 5, 10, 0, 0, 123000, tzinfo=UTC)


def test_event_row_round_trip_and_idempotent() -> None:
    e = ev("x", tokens=7, sec=75)
    raw = docs_message([accepted_doc(e, position(3, 1), 1_793_872_860_000)])
    [doc] = orjson.loads(raw)
    row = event_row(doc)
    assert row == event_row(orjson.loads(raw)[0])
    named = dict(zip(EVENT_COLUMNS, row, strict=True))
    assert named["tenant"] == "acme" and named["event_id"] == "x"
    assert from_ms(named["time"]) == datetime(2026, 11, 5, 10, 1, 15, tzinfo=UTC)  # epoch ms: DateTime64(3) ticks
    assert from_ms(named["window_start"]) == datetime(2026, 11, 5, 10, 1, tzinfo=UTC)
    assert (named["input_tokens"], named["output_tokens"], named["requests"]) == (7, 1, 1)
    assert named["position"] == 3 * 2**20 + 1


def test_window_row_keeps_money_exact() -> None:
    e = ev("x", tokens=3)
    key = window_key(e, 60_000)
    value = WindowValue.empty().with_added(Added.of([e]), 42)
    rated = rate(value.tokens, value.requests, builtin_price_book().lookup("openai", "gpt-4o", NOW_MS))
    row = window_row(load(snapshot_message(key, value, rated, 60_000, now_ms=5)))
    named = dict(zip(WINDOW_COLUMNS, row, strict=True))
    assert named["input_cost"] == Decimal("0.0000075")   # 3 x $2.50/1M
    assert named["output_cost"] == Decimal("0.00001")     # 1 x $10/1M
    assert named["cost_total"] == Decimal("0.0000175")
    assert (named["version"], named["currency"], named["unpriced"]) == (42, "USD", False)
    assert from_ms(named["window_end"]) == datetime(2026, 11, 5, 10, 1, tzinfo=UTC)
    assert named["emitted_at"] == 5
