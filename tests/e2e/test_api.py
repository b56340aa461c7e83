"""The HTTP door end to end: POST events to a running worker, read them back from GET /v1/usage."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from tokenmeter.api import keys
from tokenmeter.bench.harness import WorkerProcess, free_port, tokenmeter_env
from tokenmeter.settings import KafkaSettings

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]


def event(i: int, tenant: str, when: datetime, tokens: int) -> dict[str, object]:
    return {"specversion": "1.0", "type": "llm.usage", "id": f"api-{i}", "source": "gw", "subject": tenant,
            "time": when.isoformat(), "data": {"provider": "openai", "model": "gpt-4o-mini",
                                               "input_tokens": tokens, "output_tokens": 1}}


async def test_events_posted_over_http_are_metered_and_queryable(kafka_settings: KafkaSettings,
                                                                 tmp_path: Path) -> None:
    namespace = f"api{uuid.uuid4().hex[:8]}."
    env = tokenmeter_env(namespace=namespace, chdb_dir=tmp_path / "clickhouse", http_port=free_port(),
                         var_dir=tmp_path / "var")
    api = f"http://127.0.0.1:{env['TOKENMETER_HTTP_API_PORT']}"
    ingest_key = keys.create(tmp_path / "var" / "api-keys.json", "ingest")[1]
    acme_key = keys.create(tmp_path / "var" / "api-keys.json", "tenant", ("acme",))[1]
    as_gateway = {"content-type": "application/cloudevents-batch+json", "authorization": f"Bearer {ingest_key}"}
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        await asyncio.to_thread(worker.wait_ready)
        async with httpx.AsyncClient(base_url=api, timeout=30) as client:
            for _ in range(120):  # the API task starts with the worker; give it a moment
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.5)
            batch = [event(i, "acme" if i % 3 else "globex", now, 100 + i) for i in range(300)]
            r = await client.post("/v1/events", content=orjson.dumps(batch), headers=as_gateway)
            assert (r.status_code, r.json()) == (202, {"accepted": 300})
            again = await client.post("/v1/events", content=orjson.dumps(batch[:50]), headers=as_gateway)  # a retry
            assert again.status_code == 202
            expected = sum(100 + i + 1 for i in range(300) if i % 3)
            params = {"tenant": "acme", "from": (now - timedelta(hours=1)).isoformat(),
                      "to": (now + timedelta(hours=1)).isoformat(), "window": "hour"}
            deadline, tokens = time.monotonic() + 90, None
            while time.monotonic() < deadline:
                rows = (await client.get("/v1/usage", params=params,
                                         headers={"authorization": f"Bearer {acme_key}"})).json()["rows"]
                tokens = sum(row["tokens"] for row in rows)
                if tokens == expected:
                    break
                await asyncio.sleep(1)
            assert tokens == expected  # each event once: the retried 50 were deduplicated
    finally:
        assert worker.stop() == 0, worker.tail()
