"""Budget alerts: each limit alerts once per period, on a real topic, recorded in ClickHouse."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tokenmeter.pricing.budgets import reached
from tokenmeter.pricing.plans import Plan, PlansFile
from tokenmeter.settings import KafkaSettings, StreamSettings
from tokenmeter.storage.clickhouse import ClickHouse
from tokenmeter.stream.budgets import BudgetWatch
from tokenmeter.stream.topics import ensure_topics

PLAN = {"id": "capped", "name": "Capped", "pricing": {"type": "pay_as_you_go"}, "budget_soft": "50",
        "budget_hard": "100"}
NOV_15 = datetime(2026, 11, 15, 12, tzinfo=UTC).timestamp()


def test_limits_reached_at_or_above_soft_before_hard() -> None:
    plan = Plan.model_validate(PLAN)
    assert reached("t", "2026-11", plan, Decimal("49.99")) == []
    assert [a.level for a in reached("t", "2026-11", plan, Decimal("50"))] == ["soft"]
    assert [(a.level, a.limit) for a in reached("t", "2026-11", plan, Decimal("100"))] == [
        ("soft", Decimal(50)), ("hard", Decimal(100))]
    with pytest.raises(ValueError, match="budget_soft must not exceed budget_hard"):
        Plan.model_validate({**PLAN, "budget_soft": "200"})


def insert_window(db: ClickHouse, tenant: str, day: int, cost: str) -> None:
    db.command(
        "INSERT INTO usage_windows (tenant, window_start, window_end, provider, model, service_tier, requests, "
        f"events, input_tokens, input_cost, cost_total, currency, version) VALUES ('{tenant}', "
        f"'2026-11-{day:02d} 10:00:00', '2026-11-{day:02d} 10:01:00', 'openai', 'gpt-4o', 'standard', 1, 1, 1000, "
        f"{cost}, {cost}, 'USD', {day})")


@pytest.mark.kafka
@pytest.mark.clickhouse
async def test_each_limit_alerts_once_per_period(clickhouse: ClickHouse, kafka_settings: KafkaSettings,
                                               stream_settings: StreamSettings) -> None:
    await ensure_topics(kafka_settings, stream_settings)
    plans = PlansFile.model_validate({"plans": [PLAN], "assignments": [
        {"tenant": "acme", "plan": "capped", "effective_from": "2026-01-01"}]})
    watch = BudgetWatch(kafka_settings, stream_settings, clickhouse, plans, None, clock=lambda: NOV_15)
    producer = AIOKafkaProducer(acks="all", **kafka_settings.client_options())
    await producer.start()
    try:
        insert_window(clickhouse, "acme", 3, "30")
        insert_window(clickhouse, "other", 3, "500")  # no plan: never alerted
        assert await watch.check(producer) == []
        insert_window(clickhouse, "acme", 9, "25.5")   # 55.50: soft reached
        assert [a.level for a in await watch.check(producer)] == ["soft"]
        assert await watch.check(producer) == []       # once
        insert_window(clickhouse, "acme", 14, "60")    # 115.50: hard reached; soft not again
        assert [(a.level, a.spend) for a in await watch.check(producer)] == [("hard", Decimal("115.50"))]
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(stream_settings.alerts_topic, auto_offset_reset="earliest",
                                **kafka_settings.client_options())
    await consumer.start()
    try:
        got = []
        for _ in range(20):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                got += [(r.key, orjson.loads(r.value)) for r in records]
            if len(got) >= 2:
                break
    finally:
        await consumer.stop()
    assert sorted((k, d["level"], d["spend"], d["limit"]) for k, d in got) == [  # keys may use two partitions
        (b"acme|2026-11|hard", "hard", "115.50", "100"), (b"acme|2026-11|soft", "soft", "55.50", "50")]
    assert clickhouse.query("SELECT level FROM budget_alerts FINAL ORDER BY level") == [("hard",), ("soft",)]
