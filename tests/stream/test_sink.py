"""The sink under a ClickHouse outage: it keeps the batch, commits nothing, and catches up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tokenmeter.events.models import UsageData, UsageEvent
from tokenmeter.faults import CLICKHOUSE_DOWN, Faults
from tokenmeter.observability import metrics
from tokenmeter.settings import KafkaSettings, StreamSettings
from tokenmeter.storage.clickhouse import ClickHouse
from tokenmeter.stream.messages import accepted_doc, docs_message
from tokenmeter.stream.sink import Sink
from tokenmeter.stream.topics import ensure_topics

T0 = datetime(2026, 11, 5, 10, 0, tzinfo=UTC)


def doc(i: int) -> dict[str, object]:
    event = UsageEvent(specversion="1.0", id=f"e{i}", source="gw", type="llm.usage", subject="acme", time=T0,
                       data=UsageData(model="gpt-4o", provider="openai", input_tokens=i))
    return accepted_doc(event, i, int(T0.timestamp() * 1000))


async def committed(kafka: KafkaSettings, st: StreamSettings, partition: int) -> int | None:
    consumer = AIOKafkaConsumer(group_id=st.sink_group, enable_auto_commit=False, **kafka.client_options())
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(st.accepted_topic, partition))
    finally:
        await consumer.stop()


@pytest.mark.kafka
@pytest.mark.clickhouse
async def test_outage_holds_offsets_and_loses_nothing(clickhouse: ClickHouse, kafka_settings: KafkaSettings,
                                                      stream_settings: StreamSettings, tmp_path: Path) -> None:
    await ensure_topics(kafka_settings, stream_settings)
    producer = AIOKafkaProducer(acks="all", **kafka_settings.client_options())
    await producer.start()
    try:
        for batch in ([doc(1), doc(2)], [doc(3)]):
            await producer.send_and_wait(stream_settings.accepted_topic, docs_message(batch), key=b"acme",
                                         partition=0)
    finally:
        await producer.stop()

    faults_dir = tmp_path / "faults"
    faults_dir.mkdir()
    (faults_dir / CLICKHOUSE_DOWN).touch()
    down = ClickHouse(clickhouse._client, clickhouse.database, faults=Faults(faults_dir))  # same engine, gated
    failures = metrics.SINK_FAILURES._value.get()
    sink = asyncio.create_task(Sink(kafka_settings, stream_settings, down).run())
    try:
        for _ in range(100):
            await asyncio.sleep(0.1)
            if metrics.SINK_FAILURES._value.get() >= failures + 2:
                break
        assert metrics.SINK_FAILURES._value.get() >= failures + 2  # it kept retrying the same batch
        assert clickhouse.query("SELECT count() FROM usage_events") == [(0,)]
        assert await committed(kafka_settings, stream_settings, 0) is None  # backpressure: nothing committed

        (faults_dir / CLICKHOUSE_DOWN).unlink()
        for _ in range(150):
            await asyncio.sleep(0.2)
            if await committed(kafka_settings, stream_settings, 0) == 2:
                break
    finally:
        sink.cancel()
        await asyncio.gather(sink, return_exceptions=True)
    assert clickhouse.query("SELECT event_id, input_tokens FROM usage_events FINAL ORDER BY event_id") == [
        ("e1", 1), ("e2", 2), ("e3", 3)]
    assert await committed(kafka_settings, stream_settings, 0) == 2


def test_fault_switches_are_files_and_kill_switches_fire_once(tmp_path: Path) -> None:
    faults = Faults(tmp_path)
    assert not faults.active(CLICKHOUSE_DOWN)
    (tmp_path / CLICKHOUSE_DOWN).touch()
    assert faults.active(CLICKHOUSE_DOWN)
    (tmp_path / "one-shot").touch()
    assert faults.take("one-shot") and not faults.take("one-shot")
    assert not Faults(None).active(CLICKHOUSE_DOWN) and not Faults(None).take("one-shot")


def test_a_snapshot_message_holds_one_window_or_an_array_of_them() -> None:
    from decimal import Decimal

    from tokenmeter.pricing.catalog import builtin_price_book
    from tokenmeter.pricing.rating import rate
    from tokenmeter.stream.messages import docs_message, snapshot_doc, snapshot_message
    from tokenmeter.stream.sink import Batch, add_message
    from tokenmeter.stream.state import WindowKey, WindowValue

    start = int(T0.timestamp() * 1000)
    price = builtin_price_book().lookup("openai", "gpt-4o", start)
    docs = []
    for i, model in enumerate(("gpt-4o", "gpt-4o-mini")):
        tokens = (1_000_000, *WindowValue.empty().tokens[1:])  # input tokens only
        key, value = WindowKey("acme", start, "openai", model, "standard"), WindowValue(i, 1, tokens, 1)
        docs.append(snapshot_doc(key, value, rate(value.tokens, value.requests, price), 60_000, start))
    batch = Batch()
    add_message(batch, "windows", docs_message(docs), accepted_topic="accepted")
    add_message(batch, "windows", snapshot_message(key, value, rate(value.tokens, value.requests, price),
                                                   60_000, start), accepted_topic="accepted")
    stored = orjson.loads(batch.windows_json())
    assert [(d["model"], d["version"]) for d in stored] == [("gpt-4o", 0), ("gpt-4o-mini", 1), ("gpt-4o-mini", 1)]
    assert Decimal(stored[0]["cost_total"]) == Decimal("2.5")
    assert (batch.windows, batch.events, len(batch)) == (3, 0, 3)


def test_accepted_messages_stay_json_and_their_times_come_from_the_header() -> None:
    from tokenmeter.stream.sink import Batch, add_message, times_header

    one, two = docs_message([doc(1), doc(2)]), docs_message([doc(3)])
    batch = Batch()
    # the header is believed: these times differ from the documents' on purpose
    add_message(batch, "accepted", one, accepted_topic="accepted", headers=[("other", b"x"), times_header([5, 6])])
    add_message(batch, "accepted", two, accepted_topic="accepted", headers=[times_header([7])])
    add_message(batch, "accepted", b"[]", accepted_topic="accepted", headers=[times_header([])])
    assert (batch.events, batch.event_times_ms, len(batch)) == (3, [5, 6, 7], 3)
    assert orjson.loads(batch.events_json()) == orjson.loads(docs_message([doc(1), doc(2), doc(3)]))
    # an empty header beside documents does not hide them: the times are read from the JSON
    add_message(batch, "accepted", docs_message([doc(4)]), accepted_topic="accepted", headers=[times_header([])])
    assert (batch.events, batch.event_times_ms[-1]) == (4, int(T0.timestamp() * 1000))
    assert [d["id"] for d in orjson.loads(batch.events_json())] == ["e1", "e2", "e3", "e4"]


def test_accepted_messages_without_the_header_are_decoded_for_their_times() -> None:
    # published before the header existed: one object per message, or an array
    from tokenmeter.stream.sink import Batch, add_message

    batch = Batch()
    add_message(batch, "accepted", orjson.dumps(doc(1)), accepted_topic="accepted")
    add_message(batch, "accepted", docs_message([doc(2), doc(3)]), accepted_topic="accepted")
    start = int(T0.timestamp() * 1000)
    assert batch.event_times_ms == [start, start, start]
    assert orjson.loads(batch.events_json()) == orjson.loads(docs_message([doc(1), doc(2), doc(3)]))
