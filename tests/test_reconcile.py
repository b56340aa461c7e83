"""Reconciliation: stored windows against a recomputation from stored events, and repair."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tokenmeter import reconcile as rec
from tokenmeter.events.models import UsageData, UsageEvent
from tokenmeter.pricing.catalog import builtin_price_book
from tokenmeter.pricing.rating import rate
from tokenmeter.settings import KafkaSettings, StreamSettings
from tokenmeter.storage.clickhouse import ClickHouse
from tokenmeter.storage.rows import EVENT_COLUMNS, WINDOW_COLUMNS, event_row, window_row
from tokenmeter.stream.messages import accepted_doc, load, snapshot_message
from tokenmeter.stream.sink import Sink
from tokenmeter.stream.state import WindowValue, fold, position, window_key
from tokenmeter.stream.topics import ensure_topics

NOW_MS = 1_793_872_800_000  # 2026-11-05T10:00Z: the built-in book's current prices

T0 = datetime(2026, 11, 5, 10, 0, tzinfo=UTC)
W = 60_000
PRICES = builtin_price_book()
FROM, TO = int(T0.timestamp() * 1000), int((T0 + timedelta(hours=1)).timestamp() * 1000)


def ev(i: int, tokens: int, model: str = "gpt-4o", sec: int = 0) -> UsageEvent:
    return UsageEvent(specversion="1.0", id=f"e{i}", source="gw", type="llm.usage", subject="acme",
                      time=T0 + timedelta(seconds=sec),
                      data=UsageData(model=model, provider="openai", input_tokens=tokens, output_tokens=2))


KEY = window_key(ev(1, 10), W)


def totals(events: int, tokens: int, version: int = 1, cost: Decimal | None = None) -> rec.Totals:
    return rec.Totals(events, events, (tokens, 0, 0, 2 * events, 0, 0, 0, 0), version, cost)


def cost_of(t: rec.Totals) -> Decimal:
    return rate(t.tokens, t.requests, PRICES.lookup("openai", "gpt-4o", NOW_MS)).total


def test_equal_sides_have_no_drift() -> None:
    exp = totals(2, 30)
    assert rec.compare({KEY: exp}, {KEY: totals(2, 30, 9, cost_of(exp))}, PRICES) == []


def test_a_token_difference_is_reported_with_the_class_and_both_values() -> None:
    exp = totals(2, 30)
    [drift] = rec.compare({KEY: exp}, {KEY: totals(2, 35, 9, cost_of(exp))}, PRICES)
    assert drift.token_drift == 5
    assert "input_tokens stored=35 expected=30" in drift.describe()
    assert "events" in drift.describe() and "tenant=acme" in drift.describe()


def test_wrong_money_with_right_tokens_is_drift() -> None:
    exp = totals(2, 30)
    [drift] = rec.compare({KEY: exp}, {KEY: totals(2, 30, 9, cost_of(exp) + Decimal("0.000000000001"))}, PRICES)
    assert drift.token_drift == 0
    assert f"cost_total stored={cost_of(exp) + Decimal('0.000000000001')} expected={cost_of(exp)}" in drift.describe()


def test_missing_rows_on_either_side_are_drift() -> None:
    other = KEY._replace(model="gpt-4o-mini")
    drifts = rec.compare({KEY: totals(1, 10)}, {other: totals(1, 10, 3, Decimal(0))}, PRICES)
    assert [d.key for d in drifts] == sorted([KEY, other])
    assert {d.key: d.token_drift for d in drifts} == {KEY: 12, other: 12}


def test_repair_value_outranks_every_stored_version() -> None:
    [drift] = rec.compare({KEY: totals(2, 30, version=50)}, {KEY: totals(2, 35, 70, Decimal(0))}, PRICES)
    assert rec.corrected_value(drift) == WindowValue(71, 2, (30, 0, 0, 4, 0, 0, 0, 0), 2)
    [orphan] = rec.compare({}, {KEY: totals(2, 35, 70, Decimal(0))}, PRICES)
    assert rec.corrected_value(orphan) == WindowValue(71, 0, (0,) * 8, 0)


def _store(db: ClickHouse, events: list[UsageEvent]) -> None:
    """What the meter and sink would write for these events (one message at offset 0)."""
    result = fold([(position(0, i), e) for i, e in enumerate(events)], seen=lambda k: None,
                  current=lambda k: None, window_ms=W)
    db.insert("usage_events", [event_row(accepted_doc(e, p, k.start_ms, k.band)) for p, e, k in result.accepted],
              EVENT_COLUMNS)
    rows = []
    for key, value in result.windows.items():
        rated = rate(value.tokens, value.requests, PRICES.lookup(key.provider, key.model, key.start_ms))
        rows.append(window_row(load(snapshot_message(key, value, rated, W, FROM))))
    db.insert("usage_windows", rows, WINDOW_COLUMNS)


@pytest.mark.kafka
@pytest.mark.clickhouse
async def test_corrupted_row_is_found_and_repaired_through_the_sink(
        clickhouse: ClickHouse, kafka_settings: KafkaSettings, stream_settings: StreamSettings) -> None:
    _store(clickhouse, [ev(1, 10), ev(2, 20), ev(3, 5, model="o3", sec=70)])
    clean = rec.run(clickhouse, PRICES, FROM, TO)
    assert (clean.windows, clean.drifts) == (2, [])

    # Someone (or a bug) writes a wrong snapshot that outranks the good one.
    bad = WindowValue(10**15, 2, (999, 0, 0, 4, 0, 0, 0, 0), 2)
    rated = rate(bad.tokens, bad.requests, PRICES.lookup("openai", "gpt-4o", NOW_MS))
    clickhouse.insert("usage_windows", [window_row(load(snapshot_message(KEY, bad, rated, W, FROM)))], WINDOW_COLUMNS)
    report = rec.run(clickhouse, PRICES, FROM, TO)
    assert [d.key for d in report.drifts] == [KEY]
    assert report.token_drift == 999 - 30

    await ensure_topics(kafka_settings, stream_settings)
    assert await rec.emit_repairs(kafka_settings, stream_settings.windows_topic, report.drifts, PRICES,
                                  window_ms=W, now_ms=FROM) == 1
    sink = asyncio.create_task(Sink(kafka_settings, stream_settings, clickhouse).run())
    try:
        for _ in range(100):
            await asyncio.sleep(0.2)
            if not rec.run(clickhouse, PRICES, FROM, TO).drifts:
                break
    finally:
        sink.cancel()
        await asyncio.gather(sink, return_exceptions=True)
    assert rec.run(clickhouse, PRICES, FROM, TO).drifts == []
    [(version, tokens)] = clickhouse.query(
        "SELECT version, input_tokens FROM usage_windows FINAL WHERE model = 'gpt-4o'")
    assert (version, tokens) == (10**15 + 1, 30)


@pytest.mark.clickhouse
def test_cli_exits_1_on_a_corrupted_row_and_0_when_clean(tmp_path: Path) -> None:
    # A separate process and engine path, as an operator runs it.
    env = {**os.environ, "CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}", "CLICKHOUSE_DATABASE": "rec"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tokenmeter", "--log-level", "warning", *args], env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    cost = rate((100, 0, 0, 0, 0, 0, 0, 0), 1, PRICES.lookup("openai", "gpt-4o", NOW_MS)).total
    window = "'2026-11-05 10:00:00', '2026-11-05 10:01:00', 'openai', 'gpt-4o', 'standard'"
    statements = [
        "INSERT INTO usage_events (tenant, event_id, time, window_start, provider, model, service_tier, requests, "
        "input_tokens, position) VALUES ('acme', 'e1', '2026-11-05 10:00:05', '2026-11-05 10:00:00', 'openai', "
        "'gpt-4o', 'standard', 1, 100, 7)",
        "INSERT INTO usage_windows (tenant, window_start, window_end, provider, model, service_tier, requests, "
        f"events, input_tokens, input_cost, cost_total, currency, version) VALUES ('acme', {window}, 1, 1, 100, "
        f"{cost}, {cost}, 'USD', 7)",
    ]
    assert cli("migrate").returncode == 0
    for sql in statements:
        assert cli("sql", sql).returncode == 0
    clean = cli("reconcile", "--from", "2026-11-05", "--to", "2026-11-06")
    assert (clean.returncode, clean.stdout) == (0, "reconcile: windows=1 drifted=0 token_drift=0 repaired=0\n")

    corrupt = ("INSERT INTO usage_windows (tenant, window_start, window_end, provider, model, service_tier, requests, "
               f"events, input_tokens, input_cost, cost_total, currency, version) VALUES ('acme', {window}, 1, 1, "
               f"150, {cost}, {cost}, 'USD', 8)")
    assert cli("sql", corrupt).returncode == 0
    drift = cli("reconcile", "--from", "2026-11-05T00:00:00+00:00", "--to", "2026-11-06T00:00:00Z")
    assert drift.returncode == 1
    lines = drift.stdout.splitlines()
    assert lines[-1] == "reconcile: windows=1 drifted=1 token_drift=50 repaired=0"
    assert "tenant=acme" in lines[0] and "input_tokens stored=150 expected=100" in lines[0]
    assert "cost_total" not in lines[0]  # the corrupt row kept the right money: only the tokens drifted
