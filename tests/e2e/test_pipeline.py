"""End to end, as a user runs it: a real broker, the worker as a process, the real ClickHouse engine.

10,000 unique events over 12 tenants and 7 models, ~5 % exact duplicates, ~1 %
invalid, ~2 % out of order. What ClickHouse holds must equal totals computed
independently from the plan: every token class, to the last token, and money
to the last decimal; every invalid event must be in the DLQ with its reason.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from tokenmeter.bench.harness import WorkerProcess, free_port, sql_rows, tokenmeter_env
from tokenmeter.events.models import TOKEN_CLASSES
from tokenmeter.ingest import loadgen
from tokenmeter.ingest.producer import UsageEmitter
from tokenmeter.settings import KafkaSettings, StreamSettings
from tokenmeter.stream.topics import ensure_topics

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse, pytest.mark.e2e]

SPEC = loadgen.LoadSpec(total=10_000, tenants=12, duplicate_ratio=0.05, invalid_ratio=0.01,
                        out_of_order_ratio=0.02, seed=20261203)


async def read_dlq(kafka: KafkaSettings, topic: str, expected: int, limit_s: float = 60) -> list[dict[str, object]]:
    consumer = AIOKafkaConsumer(topic, auto_offset_reset="earliest", enable_auto_commit=False,
                                group_id=None, **kafka.client_options())
    await consumer.start()
    found: list[dict[str, object]] = []
    try:
        async with asyncio.timeout(limit_s):
            while len(found) < expected:
                batch = await consumer.getmany(timeout_ms=1000)
                found.extend(orjson.loads(r.value) for records in batch.values() for r in records)
        # anything beyond the expectation is a defect too: read a little longer
        extra = await consumer.getmany(timeout_ms=1500)
        found.extend(orjson.loads(r.value) for records in extra.values() for r in records)
    finally:
        await consumer.stop()
    return found


async def test_ten_thousand_events_exact(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    namespace = f"e2e{uuid.uuid4().hex[:8]}."
    stream = StreamSettings(namespace=namespace)
    env = tokenmeter_env(namespace=namespace, chdb_dir=tmp_path / "clickhouse", http_port=free_port(),
                         var_dir=tmp_path / "var")
    records, expected = loadgen.plan(SPEC, now=loadgen.now_utc())
    assert expected.unique == 10_000
    assert 0.04 < expected.duplicates / expected.unique < 0.06
    assert 0.005 < len(expected.invalid) / expected.unique < 0.015

    await ensure_topics(kafka_settings, stream)
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    try:
        await asyncio.to_thread(worker.wait_ready)
        half = len(records) // 2
        async with UsageEmitter(kafka_settings, stream.events_topic) as emitter:
            await loadgen.send(emitter, records[:half], rate=None)   # while the worker runs...
            await asyncio.sleep(2)
            await loadgen.send(emitter, records[half:], rate=None)

        total_requests = sum(expected.requests.values())

        def converged() -> bool:
            m = worker.metrics()
            stored = m.get('tokenmeter_sink_rows_total{table="usage_events"}', 0)
            if m.get("tokenmeter_events_counted_total") != expected.unique or stored < expected.unique:
                return False
            totals = orjson.loads(worker.get("/v1/totals"))
            return sum(int(t["requests"]) for t in totals) == total_requests

        await asyncio.to_thread(worker.wait_for, converged, 180, "all events counted and stored")
        m = worker.metrics()
        assert m["tokenmeter_events_duplicate_total"] == expected.duplicates
        invalid_by_reason = Counter(expected.invalid.values())
        for reason, n in invalid_by_reason.items():
            assert m[f'tokenmeter_events_invalid_total{{reason="{reason}"}}'] == n
    finally:
        exit_code = worker.stop()
    assert exit_code == 0, worker.tail()

    # Read back from ClickHouse (the worker has released the embedded engine's files).
    sums = ", ".join(f"toString(sum({c})) AS {c}" for c in TOKEN_CLASSES)
    windows = sql_rows(env, f"SELECT tenant, provider, model, toString(sum(requests)) AS requests, {sums}, "
                            "toString(sum(cost_total)) AS cost, any(currency) AS currency, max(unpriced) AS unpriced "
                            "FROM usage_windows FINAL GROUP BY tenant, provider, model")
    events = sql_rows(env, f"SELECT tenant, provider, model, toString(count()) AS n, {sums} "
                           "FROM usage_events FINAL GROUP BY tenant, provider, model")
    costs = loadgen.expected_costs(expected, int(time.time() * 1000))

    stored_windows = {(r["tenant"], r["provider"], r["model"]): r for r in windows}
    assert set(stored_windows) == set(expected.tokens)
    for key, tokens in expected.tokens.items():
        row = stored_windows[key]
        assert [int(row[c]) for c in TOKEN_CLASSES] == tokens, key
        assert int(row["requests"]) == expected.requests[key], key
        assert Decimal(row["cost"]) == costs[key], key
        assert row["unpriced"] == (key[1] == "acme"), key
        assert row["currency"] == ("XXX" if key[1] == "acme" else "USD"), key
    assert sum(costs.values()) > Decimal(1)  # the comparison covered real money

    stored_events = {(r["tenant"], r["provider"], r["model"]): r for r in events}
    assert sum(int(r["n"]) for r in events) == expected.unique
    for key, tokens in expected.tokens.items():
        assert [int(stored_events[key][c]) for c in TOKEN_CLASSES] == tokens, key

    records_in_dlq = await read_dlq(kafka_settings, stream.dlq_topic, len(expected.invalid))
    # The DLQ is at-least-once (a redelivered message is dead-lettered again): one entry per source position.
    dlq = list({(d["partition"], d["offset"], d["index"]): d for d in records_in_dlq}.values())
    assert {str(d["event_id"]): d["reason"] for d in dlq if d["event_id"]} | {
        # an undecodable record has no readable id: match it through its payload
        _id_in_payload(d): d["reason"] for d in dlq if not d["event_id"]
    } == expected.invalid
    assert len(dlq) == len(expected.invalid)
    assert all(d["topic"] == stream.events_topic and isinstance(d["offset"], int) for d in dlq)


def _id_in_payload(record: dict[str, object]) -> str:
    """The id inside a dead-lettered record that is not valid UTF-8 (kept base64-encoded)."""
    payload = base64.b64decode(str(record["payload_b64"]))
    marker = b'"id": "'
    start = payload.index(marker) + len(marker)
    return payload[start:payload.index(b'"', start)].decode()
