"""POST /v1/events against a real broker: 202 only after Kafka acknowledged, precise 4xx otherwise."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI

from tokenmeter.api.ingest import BATCH, SINGLE, ingest_router
from tokenmeter.ingest.producer import UsageEmitter
from tokenmeter.settings import KafkaSettings, StreamSettings
from tokenmeter.stream.topics import ensure_topics

pytestmark = pytest.mark.kafka


def event(i: int, tenant: str = "acme", **data: object) -> dict[str, object]:
    return {"specversion": "1.0", "type": "llm.usage", "id": f"h{i}", "source": "gw", "subject": tenant,
            "time": "2026-11-05T10:00:00Z", "data": {"provider": "openai", "model": "gpt-4o", "input_tokens": 10,
                                                     "output_tokens": 2, **data}}


@pytest.fixture
async def client(kafka_settings: KafkaSettings, stream_settings: StreamSettings) -> AsyncIterator[httpx.AsyncClient]:
    await ensure_topics(kafka_settings, stream_settings)
    async with UsageEmitter(kafka_settings, stream_settings.events_topic) as emitter:
        app = FastAPI()
        app.include_router(ingest_router(emitter))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            yield c


async def records(kafka: KafkaSettings, topic: str, n: int) -> list[list[dict[str, object]]]:
    consumer = AIOKafkaConsumer(topic, auto_offset_reset="earliest", **kafka.client_options())
    await consumer.start()
    got: list[list[dict[str, object]]] = []
    try:
        for _ in range(40):
            for recs in (await consumer.getmany(timeout_ms=250)).values():
                got += [orjson.loads(r.value) for r in recs]
            if sum(len(g) for g in got) >= n:
                break
    finally:
        await consumer.stop()
    return got


async def test_a_batch_of_two_tenants_is_acknowledged_then_answered(
        client: httpx.AsyncClient, kafka_settings: KafkaSettings, stream_settings: StreamSettings) -> None:
    body = orjson.dumps([event(1), event(2, "globex"), event(3)])
    r = await client.post("/v1/events", content=body, headers={"content-type": BATCH})
    assert (r.status_code, r.json()) == (202, {"accepted": 3})
    stored = await records(kafka_settings, stream_settings.events_topic, 3)
    assert sorted((e["subject"], e["id"]) for batch in stored for e in batch) == [  # type: ignore[index]
        ("acme", "h1"), ("acme", "h3"), ("globex", "h2")]
    assert len(stored) == 2  # one record per tenant


async def test_one_invalid_event_rejects_the_whole_batch_with_index_field_and_reason(
        client: httpx.AsyncClient, kafka_settings: KafkaSettings, stream_settings: StreamSettings) -> None:
    body = orjson.dumps([event(1), event(2, input_tokens=-1), event(3, prompt_tokens=5)])
    r = await client.post("/v1/events", content=body, headers={"content-type": BATCH})
    assert r.status_code == 400
    doc = r.json()
    assert doc["error"] == "2 of 3 events are invalid; none was accepted"
    assert [(p["index"], p["id"], p["reason"], [e["field"] for e in p["errors"]]) for p in doc["events"]] == [
        (1, "h2", "schema_violation", ["data.input_tokens"]), (2, "h3", "schema_violation", ["data.prompt_tokens"])]
    assert await records(kafka_settings, stream_settings.events_topic, 1) == []


@pytest.mark.parametrize(("headers", "body", "status", "message"), [
    ({"content-type": "application/json"}, b"{}", 415, "Content-Type must be application/cloudevents+json"),
    ({}, b"{}", 415, "got 'none'"),
    ({"content-type": SINGLE}, b"[]", 400, "carries one JSON object"),
    ({"content-type": BATCH}, b"{}", 400, "carries a JSON array"),
    ({"content-type": BATCH}, b"[" + b" " * (1024 * 1024) + b"]", 413, "limit 1048576"),
])
async def test_wrong_media_type_shape_or_size_is_refused_precisely(
        client: httpx.AsyncClient, headers: dict[str, str], body: bytes, status: int, message: str) -> None:
    r = await client.post("/v1/events", content=body, headers=headers)
    assert r.status_code == status
    assert message in r.json()["error"]


async def test_single_event_is_202_and_no_ack_in_time_is_503_with_retry_after(
        kafka_settings: KafkaSettings, stream_settings: StreamSettings, client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/events", content=orjson.dumps(event(7)), headers={"content-type": SINGLE})
    assert (r.status_code, r.json()) == (202, {"accepted": 1})
    async with UsageEmitter(kafka_settings, stream_settings.events_topic) as emitter:
        app = FastAPI()
        app.include_router(ingest_router(emitter, ack_timeout_seconds=1e-9))  # Kafka cannot ack that fast
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as slow:
            r = await slow.post("/v1/events", content=orjson.dumps(event(8)), headers={"content-type": SINGLE})
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert "resend them (same ids are safe)" in r.json()["error"]
