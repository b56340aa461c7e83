"""The producer SDK against a real broker: acknowledged, keyed by tenant, readable by the meter's decoder."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer

from tokenmeter.events.decode import decode_message
from tokenmeter.events.models import UsageData, UsageEvent
from tokenmeter.ingest.errors import EmitError
from tokenmeter.ingest.producer import SyncUsageEmitter, UsageEmitter
from tokenmeter.settings import KafkaSettings, StreamSettings
from tokenmeter.stream.topics import ensure_topics

pytestmark = pytest.mark.kafka


def event(i: int, tenant: str = "acme") -> UsageEvent:
    return UsageEvent(specversion="1.0", id=f"r{i}", source="sdk-test", type="llm.usage", subject=tenant,
                      time=datetime(2026, 12, 3, 12, 0, i % 60, tzinfo=UTC),
                      data=UsageData(model="gpt-4o", provider="openai", input_tokens=i, output_tokens=1))


async def read_all(kafka: KafkaSettings, topic: str, n: int) -> list[tuple[bytes | None, bytes]]:
    consumer = AIOKafkaConsumer(topic, auto_offset_reset="earliest", group_id=None, **kafka.client_options())
    await consumer.start()
    out: list[tuple[bytes | None, bytes]] = []
    try:
        async with asyncio.timeout(30):
            while len(out) < n:
                batch = await consumer.getmany(timeout_ms=500)
                out.extend((r.key, r.value) for recs in batch.values() for r in recs)
    finally:
        await consumer.stop()
    return out


async def test_async_emitter_single_many_and_batch(kafka_settings: KafkaSettings,
                                                   stream_settings: StreamSettings) -> None:
    await ensure_topics(kafka_settings, stream_settings)
    async with UsageEmitter(kafka_settings, stream_settings.events_topic) as emitter:
        await emitter.emit(event(1))
        await emitter.emit_many([event(2), event(3, tenant="globex")])
        await emitter.emit_batch([event(4), event(5)])
        with pytest.raises(ValueError, match="one tenant"):
            await emitter.emit_batch([event(6), event(7, tenant="globex")])
    records = await read_all(kafka_settings, stream_settings.events_topic, 4)
    decoded = [(key, [e.id for _, e in decode_message(value, key) if isinstance(e, UsageEvent)])
               for key, value in records]
    assert sorted(decoded) == [(b"acme", ["r1"]), (b"acme", ["r2"]), (b"acme", ["r4", "r5"]), (b"globex", ["r3"])]


def test_sync_emitter(kafka_settings: KafkaSettings, stream_settings: StreamSettings) -> None:
    asyncio.run(ensure_topics(kafka_settings, stream_settings))
    with SyncUsageEmitter(kafka_settings, stream_settings.events_topic) as emitter:
        emitter.emit(event(10))
        emitter.emit_many([event(11), event(12)])
    records = asyncio.run(read_all(kafka_settings, stream_settings.events_topic, 3))
    assert sorted(v for _, v in records) == sorted(
        e.model_dump_json(exclude_none=True).encode() for e in (event(10), event(11), event(12)))


async def test_unreachable_broker_is_an_error_not_a_silent_drop() -> None:
    dead = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    emitter = UsageEmitter(dead, "nowhere", request_timeout_ms=2000)
    with pytest.raises(EmitError, match="cannot connect"):
        await emitter.start()
    await emitter.stop()
