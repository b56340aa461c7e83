"""POST /v1/events against a real broker: 202 only after Kafka acknowledged, precise 4xx otherwise."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from tests.api.conftest import Keys, app_with
from tokenmeter.api.auth import Access
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
async def emitter(kafka_settings: KafkaSettings, stream_settings: StreamSettings) -> AsyncIterator[UsageEmitter]:
    await ensure_topics(kafka_settings, stream_settings)
    async with UsageEmitter(kafka_settings, stream_settings.events_topic) as e:
        yield e


@pytest.fixture
async def client(emitter: UsageEmitter, access: Access, api_keys: Keys) -> AsyncIterator[httpx.AsyncClient]:
    app = app_with(ingest_router(emitter, access))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                 headers=api_keys.ingest) as c:
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
    assert doc["error"] == {"field": "events", "reason": "2 of 3 events are invalid; none was accepted"}
    assert [(p["index"], p["id"], p["reason"], [e["field"] for e in p["errors"]]) for p in doc["events"]] == [
        (1, "h2", "schema_violation", ["data.input_tokens"]), (2, "h3", "schema_violation", ["data.prompt_tokens"])]
    assert await records(kafka_settings, stream_settings.events_topic, 1) == []


@pytest.mark.parametrize(("headers", "body", "status", "message"), [
    ({"content-type": "application/json"}, b"{}", 415, "must be application/cloudevents+json"),
    ({}, b"{}", 415, "got 'none'"),
    ({"content-type": SINGLE}, b"[]", 400, "carries one JSON object"),
    ({"content-type": BATCH}, b"{}", 400, "carries a JSON array"),
    ({"content-type": BATCH}, b"[" + b" " * (1024 * 1024) + b"]", 413, "limit 1048576"),
])
async def test_wrong_media_type_shape_or_size_is_refused_precisely(
        client: httpx.AsyncClient, headers: dict[str, str], body: bytes, status: int, message: str) -> None:
    r = await client.post("/v1/events", content=body, headers=headers)
    assert r.status_code == status
    assert message in r.json()["error"]["reason"]


async def test_single_event_is_202_and_no_ack_in_time_is_503_with_retry_after(
        emitter: UsageEmitter, access: Access, api_keys: Keys, client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/events", content=orjson.dumps(event(7)), headers={"content-type": SINGLE})
    assert (r.status_code, r.json()) == (202, {"accepted": 1})
    app = app_with(ingest_router(emitter, access, ack_timeout_seconds=1e-9))  # Kafka cannot ack that fast
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as slow:
        r = await slow.post("/v1/events", content=orjson.dumps(event(8)),
                            headers={"content-type": SINGLE, **api_keys.ingest})
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert r.json()["error"]["field"] == "kafka"
    assert "resend them (same ids are safe)" in r.json()["error"]["reason"]


@pytest.mark.parametrize(("who", "status", "field", "reason"), [
    (None, 401, "authorization", "send an API key as 'Authorization: Bearer <key>'"),
    ("revoked", 401, "authorization", "unknown or revoked API key"),
    ("tenant_acme", 403, "authorization", "a tenant key may only read; create an ingest key to send events"),
    ("ingest_acme", 403, "subject", "this key may not send events for tenant 'globex'; nothing was accepted"),
])
async def test_who_may_send_what(client: httpx.AsyncClient, api_keys: Keys, kafka_settings: KafkaSettings,
                                 stream_settings: StreamSettings, who: str | None, status: int, field: str,
                                 reason: str) -> None:
    headers = {"content-type": BATCH, "authorization": ""} | (getattr(api_keys, who) if who else {})
    r = await client.post("/v1/events", content=orjson.dumps([event(1), event(2, "globex")]), headers=headers)
    assert (r.status_code, r.json()) == (status, {"error": {"field": field, "reason": reason}})
    if status == 401:
        assert r.headers["www-authenticate"].startswith("Bearer")
    ok = await client.post("/v1/events", content=orjson.dumps([event(3)]),
                           headers={"content-type": BATCH, **api_keys.ingest_acme})
    assert (ok.status_code, ok.json()) == (202, {"accepted": 1})  # its own tenant is fine
    stored = await records(kafka_settings, stream_settings.events_topic, 1)  # h1 would sit before h3 (same key)
    assert [e["id"] for batch in stored for e in batch] == ["h3"]  # type: ignore[index]
