"""Scale-out figures for ``make bench``: 1 and 2 meter processes, and state against active tenants.

Both measure the meter alone (``worker --no-sink``): the embedded ClickHouse
engine belongs to one process, so a second worker cannot run a sink of its own
here (with a ClickHouse server, every worker can).

- **workers**: the same event set metered by 1, then 2 worker processes on the
  events topic's 8 partitions. The rate counts from the moment the workers hold
  all 8 partitions between them to the last event counted, so the start-up
  rebalance is not in it.
- **tenants**: one worker meters ``events`` events spread over 1k, 10k and 100k
  tenants, all in the same few windows; it reports the window keys held, the
  seen-table keys, peak RSS and the rate.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from tokenmeter.bench.harness import WorkerProcess, free_port, tokenmeter_env
from tokenmeter.ingest import loadgen
from tokenmeter.settings import KafkaSettings, StreamSettings
from tokenmeter.stream.topics import ensure_topics


def _event_set(kafka: KafkaSettings, namespace: str, *, events: int, tenants: int,
               span: int) -> tuple[int, int, int]:
    """Produce a fresh event set to ``namespace``'s events topic; return (unique, all events, records)."""
    from tokenmeter.bench.__main__ import produce

    spec = loadgen.LoadSpec(total=events, tenants=tenants, duplicate_ratio=0.05, invalid_ratio=0.0,
                            out_of_order_ratio=0.02, seed=2, tenant_prefix="scale-")
    planned, expected = loadgen.plan(spec, now=loadgen.now_utc())
    records = loadgen.coalesce(planned, span=span)
    asyncio.run(produce(kafka, StreamSettings(namespace=namespace).events_topic, records))
    return expected.unique, expected.unique + expected.duplicates, len(records)


def _meter(kafka: KafkaSettings, work: Path, processes: int, *, events: int, tenants: int,
           span: int) -> dict[str, Any]:
    """Start the workers on empty topics, wait until they split the partitions, then produce the
    event set and time it from the first event received to the last counted."""
    from tokenmeter.bench.__main__ import proc_stats

    namespace = f"scale{uuid.uuid4().hex[:8]}."
    asyncio.run(ensure_topics(kafka, StreamSettings(namespace=namespace)))
    work.mkdir(parents=True, exist_ok=True)
    workers = []
    for i in range(processes):
        env = tokenmeter_env(namespace=namespace, chdb_dir=work / f"clickhouse-{i}", http_port=free_port(),
                             var_dir=work / f"var-{i}", extra={"TOKENMETER_HTTP_API_PORT": "0"})
        workers.append(WorkerProcess(env, work / f"worker-{i}.log", "worker", "--no-sink"))
    for w in workers:
        w.start()
    try:
        for w in workers:
            w.wait_ready()

        def split() -> bool:
            held = [orjson.loads(w.get("/healthz"))["partitions"] for w in workers]
            return all(held) and sum(len(h) for h in held) == 8

        workers[0].wait_for(split, 120, "the workers to split the 8 partitions")
        unique, inputs, records = _event_set(kafka, namespace, events=events, tenants=tenants, span=span)
        first: float | None = None
        while True:
            seen = [w.metrics() for w in workers]
            if first is None and sum(m.get("tokenmeter_events_received_total", 0) for m in seen) > 0:
                first = time.monotonic()
            if sum(m.get("tokenmeter_events_counted_total", 0) for m in seen) >= unique:
                seconds = time.monotonic() - (first or time.monotonic())
                break
            for w in workers:
                w.check_alive()
            time.sleep(0.5)
        seen = [w.metrics() for w in workers]  # the state gauges, now that every event is in
        stats = [proc_stats(w.pid) for w in workers]
        return {"processes": processes, "tenants": tenants, "events_per_record": round(inputs / records, 2),
                "events_per_s": round(inputs / max(seconds, 1e-9), 1),
                "peak_rss_mb_per_process": round(max(s.peak_rss_mb for s in stats), 1),
                "window_keys": int(sum(m.get('tokenmeter_state_keys{table="windows"}', 0) for m in seen)),
                "ids_remembered": int(sum(m.get('tokenmeter_state_keys{table="seen"}', 0) for m in seen))}
    finally:
        for w in workers:
            w.stop()


def run(kafka: KafkaSettings, work: Path, *, events: int, span: int) -> dict[str, Any]:
    """Every run meters a fresh copy of its event set (its own topics and consumer group)."""
    return {
        "workers": [_meter(kafka, work / f"workers-{n}", n, events=events, tenants=200, span=span) for n in (1, 2)],
        "tenants": [_meter(kafka, work / f"tenants-{t}", 1, events=events, tenants=t, span=span)
                    for t in (1_000, 10_000, 100_000)],
    }
