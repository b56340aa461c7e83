"""The real ClickHouse engine (embedded chdb): migrations, idempotent writes, FINAL reads."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from tests.stream.test_state import ev
from tokenmeter.events.models import UsageData, UsageEvent
from tokenmeter.pricing.catalog import builtin_price_book
from tokenmeter.pricing.rating import rate
from tokenmeter.storage.clickhouse import ClickHouse
from tokenmeter.storage.migrations import load_migrations, migrate
from tokenmeter.storage.queries import tenant_totals
from tokenmeter.storage.rows import EVENT_COLUMNS, WINDOW_COLUMNS, event_row, window_row
from tokenmeter.stream.app import total_doc
from tokenmeter.stream.messages import accepted_doc, load, snapshot_doc, snapshot_message
from tokenmeter.stream.state import Added, WindowKey, WindowValue, position, window_key

NOW_MS = 1_793_872_800_000  # 2026-11-05T10:00Z: the built-in book's current prices

pytestmark = pytest.mark.clickhouse


def test_migrations_are_numbered_and_idempotent(clickhouse: ClickHouse) -> None:
    assert [m.version for m in load_migrations()] == list(range(1, 13))
    assert migrate(clickhouse) == []
    [(key,)] = clickhouse.query("SELECT sorting_key FROM system.tables WHERE database = currentDatabase() "
                                "AND name = 'usage_windows'")
    assert key == "tenant, window_start, provider, model, service_tier, price_band"
    tables = {r[0] for r in clickhouse.query("SELECT name FROM system.tables WHERE database = currentDatabase()")}
    assert {"usage_events", "usage_windows", "usage_windows_by_class", "schema_migrations"} <= tables


def test_accepted_documents_inserted_as_json_store_the_rows_the_python_path_stores(clickhouse: ClickHouse) -> None:
    # The sink hands accepted-event documents to ClickHouse as JSON (usage_events_in and its view);
    # every column must come out as event_row() + insert() would write it.
    full = UsageEvent(specversion="1.0", id="j-full", source="gw-7", type="llm.usage", subject="json-acme",
                      time=datetime(2026, 11, 5, 10, 0, 0, 123000, tzinfo=UTC),
                      data=UsageData(model="gpt-4o", provider="openai", input_tokens=1, cached_input_tokens=2,
                                     cache_write_tokens=3, output_tokens=4, reasoning_tokens=5, audio_input_tokens=6,
                                     audio_output_tokens=7, image_input_tokens=8, requests=3, service_tier="flex",
                                     batch=True, api_key_id="k1", project='p "quoted" \\ x', user="u", region="eu"))
    bare = ev("j-bare", tokens=9)
    docs = [accepted_doc(full, position(7, 2), NOW_MS, band=1), accepted_doc(bare, position(8, 0), NOW_MS)]
    legacy = {**accepted_doc(bare, position(9, 0), NOW_MS), "id": "j-legacy", "added_later": [1]}
    del legacy["price_band"]  # published before bands: band 0; an unknown field is skipped
    clickhouse.insert_json("usage_events_in", orjson.dumps([*docs, legacy]))
    clickhouse.insert("usage_events", [event_row({**d, "id": "py-" + d["id"]}) for d in docs], EVENT_COLUMNS)

    def stored(prefix: str) -> list[tuple[object, ...]]:
        cols = ", ".join(c for c in EVENT_COLUMNS if c != "event_id")
        return clickhouse.query(f"SELECT replaceOne(event_id, '{prefix}', ''), {cols} FROM usage_events FINAL "
                                f"WHERE startsWith(event_id, '{prefix}') AND event_id != 'j-legacy' ORDER BY event_id")

    assert stored("j-") == stored("py-j-")
    [row] = clickhouse.query("SELECT input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, "
                             "reasoning_tokens, audio_input_tokens, audio_output_tokens, image_input_tokens, requests, "
                             "service_tier, batch, project, price_band, toUnixTimestamp64Milli(time) "
                             "FROM usage_events FINAL WHERE event_id = 'j-full'")
    assert row == (1, 2, 3, 4, 5, 6, 7, 8, 3, "flex", True, 'p "quoted" \\ x', 1, full.time_ms)
    assert clickhouse.query("SELECT price_band, input_tokens FROM usage_events FINAL WHERE event_id = 'j-legacy'") == [
        (0, 9)]
    assert clickhouse.query("SELECT count() FROM usage_events_in") == [(0,)]  # the Null table keeps nothing


def test_snapshots_inserted_as_json_store_the_rows_the_python_path_stores(clickhouse: ClickHouse) -> None:
    # Money to the last of the column's 12 digits, every token and cost class in its column.
    book = builtin_price_book()
    docs = []
    for i, (model, tier, band) in enumerate((("gpt-4o", "standard", 0), ("claude-sonnet-4-5", "standard", 1),
                                             ("no-such-model", "flex", 0))):
        provider = "anthropic" if model.startswith("claude") else "openai"
        key = WindowKey(f"jw-{i}", NOW_MS, provider, model, tier, band)
        value = WindowValue(position(40 + i, 3), 7 + i, tuple(1_000 * (k + 1) + i for k in range(8)), 5 + i)
        price = book.window_price(provider, model, NOW_MS, service_tier=tier, band=band, tenant=key.tenant)
        docs.append(snapshot_doc(key, value, rate(value.tokens, value.requests, price), 60_000, NOW_MS + 17))
    legacy = {**docs[0], "tenant": "jw-legacy", "added_later": True}
    del legacy["price_band"]
    clickhouse.insert_json("usage_windows_in", orjson.dumps([*docs, legacy]))
    clickhouse.insert("usage_windows", [window_row({**d, "tenant": "py-" + d["tenant"]}) for d in docs],
                      WINDOW_COLUMNS)

    def stored(prefix: str) -> list[tuple[object, ...]]:
        cols = ", ".join(f"toString({c})" for c in WINDOW_COLUMNS if c != "tenant")
        return clickhouse.query(f"SELECT replaceOne(tenant, '{prefix}', ''), {cols} FROM usage_windows FINAL "
                                f"WHERE startsWith(tenant, '{prefix}jw-') AND tenant != 'jw-legacy' ORDER BY tenant")

    json_rows = stored("")
    assert json_rows == stored("py-") and len(json_rows) == 3
    assert {d["currency"] for d in docs} == {"USD", "XXX"} and any(Decimal(d["cost_total"]) > 0 for d in docs)
    [(total, band)] = clickhouse.query("SELECT toString(cost_total), price_band FROM usage_windows FINAL "
                                       "WHERE tenant = 'jw-1'")
    assert (total, band) == (docs[1]["cost_total"].rstrip("0").rstrip(".") or "0", 1)
    assert clickhouse.query("SELECT price_band, toUnixTimestamp64Milli(emitted_at) FROM usage_windows FINAL "
                            "WHERE tenant = 'jw-legacy'") == [(0, NOW_MS + 17)]


def test_replayed_events_collapse(clickhouse: ClickHouse) -> None:
    rows = [event_row(accepted_doc(ev(f"id{i}", tokens=i), position(i, 0), 0)) for i in range(1, 4)]
    clickhouse.insert("usage_events", rows, EVENT_COLUMNS)
    clickhouse.insert("usage_events", rows[1:], EVENT_COLUMNS)  # the sink re-wrote a batch after a crash
    assert clickhouse.query("SELECT count(), sum(input_tokens) FROM usage_events FINAL") == [(3, 6)]


def test_times_stored_from_epoch_ms_are_exact(clickhouse: ClickHouse) -> None:
    e = ev("t", tokens=1, sec=75)  # 2026-11-05T10:01:15Z
    doc = {**accepted_doc(e, position(1, 0), 1_793_872_860_000), "time_ms": 1_793_872_875_123}
    clickhouse.insert("usage_events", [event_row(doc)], EVENT_COLUMNS)
    price = builtin_price_book().lookup("openai", "gpt-4o", NOW_MS)
    value = WindowValue.empty().with_added(Added.of([e]), 3)
    snapshot = snapshot_message(window_key(e, 60_000), value, rate(value.tokens, value.requests, price), 60_000,
                                now_ms=1_793_872_999_999)
    clickhouse.insert("usage_windows", [window_row(load(snapshot))], WINDOW_COLUMNS)
    assert clickhouse.query("SELECT toString(time), toString(window_start) FROM usage_events") == [
        ("2026-11-05 10:01:15.123", "2026-11-05 10:01:00.000")]
    assert clickhouse.query("SELECT toString(window_start), toString(window_end), toString(emitted_at) "
                            "FROM usage_windows") == [
        ("2026-11-05 10:01:00.000", "2026-11-05 10:02:00.000", "2026-11-05 10:03:19.999")]


def test_latest_snapshot_wins_whatever_the_insert_order(clickhouse: ClickHouse) -> None:
    price = builtin_price_book().lookup("openai", "gpt-4o", NOW_MS)
    e1, e2 = ev("a", tokens=100), ev("b", tokens=50)
    key = window_key(e1, 60_000)
    v1 = WindowValue.empty().with_added(Added.of([e1]), 10)
    v2 = v1.with_added(Added.of([e2]), 11)

    def row(v: WindowValue) -> list[object]:
        return window_row(load(snapshot_message(key, v, rate(v.tokens, v.requests, price), 60_000, 0)))

    clickhouse.insert("usage_windows", [row(v2)], WINDOW_COLUMNS)
    clickhouse.insert("usage_windows", [row(v1), row(v2)], WINDOW_COLUMNS)  # stale and replayed snapshots
    sql, params = tenant_totals("acme")
    [doc] = [total_doc(r) for r in clickhouse.query(sql, params)]
    assert doc["input_tokens"] == 150 and doc["requests"] == 2
    assert doc["cost_total"] == Decimal("0.000395")  # 150 x 2.50/1M + 2 x 10/1M
    by_class = clickhouse.query(
        "SELECT token_class, sum(tokens), sum(cost) FROM usage_windows_by_class "
        "WHERE tokens > 0 GROUP BY token_class ORDER BY token_class")
    assert by_class == [("input_tokens", 150, Decimal("0.000375")), ("output_tokens", 2, Decimal("0.00002"))]
