"""The broker dies (kill -9) while gateways POST events: 202 always means stored, anything else means resend.

A private broker (kafka.sh on free ports), one worker with the API, and four
clients, each sending batches of 10 events with unique ids. Partway through,
the broker is killed with SIGKILL and restarted 6 s later. Each request must
end in 202 or in 503 with Retry-After (never a 5xx of another kind, never a
hang); a client resends a refused batch, as the API tells it to, until 202.
In the end every event answered 202 is in ClickHouse, and every event is
there exactly once (the resends of batches that had partly reached Kafka are
deduplicated).
"""

import asyncio
import os
import signal
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest

from tokenmeter.api import keys
from tokenmeter.bench.harness import WorkerProcess, free_port, sql_rows, tokenmeter_env
from tokenmeter.chaos.driver import Broker
from tokenmeter.events.models import TOKEN_CLASSES

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]
CLIENTS, BATCHES, BATCH = 4, 30, 10


def batch_of(client: int, n: int, when: datetime) -> list[dict[str, object]]:
    return [{"specversion": "1.0", "type": "llm.usage", "id": f"c{client}-b{n}-e{i}", "source": "gw",
             "subject": f"tenant-{client}", "time": when.isoformat(),
             "data": {"provider": "openai", "model": "gpt-4o-mini", "input_tokens": 1000 + i, "output_tokens": 7}}
            for i in range(BATCH)]


async def test_every_202_survives_a_broker_kill_and_every_refusal_is_explicit(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "broker")
    broker.up()
    env = tokenmeter_env(namespace=f"bk{uuid.uuid4().hex[:8]}.", chdb_dir=tmp_path / "clickhouse",
                         http_port=free_port(), var_dir=tmp_path / "var",
                         extra={"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
                                "TOKENMETER_HTTP_API_ACK_TIMEOUT_SECONDS": "5",
                                "TOKENMETER_HTTP_API_KEYS_FILE": str(tmp_path / "var" / "api-keys.json")})
    key = keys.create(tmp_path / "var" / "api-keys.json", "ingest")[1]
    headers = {"content-type": "application/cloudevents-batch+json", "authorization": f"Bearer {key}"}
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    now = datetime.now(UTC).replace(microsecond=0)
    answered_202: set[str] = set()
    outcomes: Counter[str] = Counter()
    sent = 0
    a_quarter_sent = asyncio.Event()
    try:
        await asyncio.to_thread(worker.wait_ready)
        api = f"http://127.0.0.1:{env['TOKENMETER_HTTP_API_PORT']}"
        async with httpx.AsyncClient(base_url=api, timeout=60) as http:
            await _until_healthy(http)

            async def gateway(client: int) -> None:
                nonlocal sent
                for n in range(BATCHES):
                    events = batch_of(client, n, now)
                    while True:
                        r = await http.post("/v1/events", content=orjson.dumps(events), headers=headers)
                        outcomes[str(r.status_code)] += 1
                        if r.status_code == 202:
                            assert r.json() == {"accepted": BATCH}
                            answered_202.update(str(e["id"]) for e in events)
                            break
                        assert r.status_code == 503, (  # the only refusal a dead broker may cause
                            f"{r.status_code} {r.text} after {dict(outcomes)}; worker alive: "
                            f"{worker.proc is not None and worker.proc.poll() is None}; log: {worker.tail()[-2000:]}")
                        assert r.headers["retry-after"] == "5" and r.json()["error"]["field"] == "kafka"
                        await asyncio.sleep(1)  # shorter than Retry-After: the test has a clock to keep
                    sent += 1
                    if sent == CLIENTS * BATCHES // 4:
                        a_quarter_sent.set()
                    await asyncio.sleep(0.1)

            async def killer() -> None:
                await a_quarter_sent.wait()
                pid = int((tmp_path / "broker" / "kafka" / "kafka.pid").read_text())
                os.kill(pid, signal.SIGKILL)
                await asyncio.sleep(6)
                await asyncio.to_thread(broker.up)

            await asyncio.gather(killer(), *(gateway(c) for c in range(CLIENTS)))
        print(f"broker kill: answers={dict(outcomes)}")  # shown with -s; quoted in the closing note
        assert outcomes["503"] > 0, f"the kill did not hit any request: {outcomes}"
        everyone = {f"c{c}-b{n}-e{i}" for c in range(CLIENTS) for n in range(BATCHES) for i in range(BATCH)}
        assert answered_202 == everyone
        expected_tokens = CLIENTS * BATCHES * sum(1000 + i + 7 for i in range(BATCH))

        def all_stored() -> bool:
            tokens = sum(int(d[c]) for d in orjson.loads(worker.get("/v1/totals")) for c in TOKEN_CLASSES)
            rows = worker.metrics().get('tokenmeter_sink_rows_total{table="usage_events"}', 0)
            return tokens == expected_tokens and rows >= len(everyone)

        await asyncio.to_thread(worker.wait_for, all_stored, 180, "every event metered and stored")
    finally:
        stopped = worker.stop()
        broker.down()
    assert stopped == 0, worker.tail()
    rows = sql_rows(env, "SELECT event_id, count() AS n FROM usage_events FINAL GROUP BY event_id")
    stored = {r["event_id"]: int(r["n"]) for r in rows}
    assert answered_202 - stored.keys() == set(), "answered 202 but not stored"
    assert set(stored) == everyone and set(stored.values()) == {1}


async def _until_healthy(http: httpx.AsyncClient) -> None:
    for _ in range(120):
        try:
            if (await http.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.5)
    raise AssertionError("the API did not answer /healthz within 60 s")
