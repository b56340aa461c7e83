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


def _event_set(kafka: KafkaSettings, namespace: str, *, events: int, tenants: int, span: int) -> int:
    """Produce a fresh event set to ``namespace``'s events topic; return its unique events."""
    from tokenmeter.bench.__main__ import produce

    spec = loadgen.LoadSpec(total=events, tenants=tenants, duplicate_ratio=0.05, invalid_ratio=0.0,
                            out_of_order_ratio=0.02, seed=2, tenant_prefix="scale-")
    planned, expected = loadgen.plan(spec, now=loadgen.now_utc())
    stream = StreamSettings(namespace=namespace)
    asyncio.run(ensure_topics(kafka, stream))
    asyncio.run(produce(kafka, stream.events_topic, loadgen.coalesce(planned, span=span)))
    return expected.unique


def _meter(work: Path, namespace: str, processes: int, unique: int) -> dict[str, Any]:
    from tokenmeter.bench.__main__ import proc_stats

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
        start: tuple[float, float] | None = None
        while True:
            counted = sum(w.metrics().get("tokenmeter_events_counted_total", 0) for w in workers)
            if start is None:
                held = [orjson.loads(w.get("/healthz"))["partitions"] for w in workers]
                if all(held) and sum(len(h) for h in held) == 8:
                    start = (time.monotonic(), counted)
            if counted >= unique and start is not None:
                seconds = time.monotonic() - start[0]
                break
            for w in workers:
                w.check_alive()
            time.sleep(0.5)
        last = workers[0].metrics()
        stats = [proc_stats(w.pid) for w in workers]
        return {"processes": processes, "events_per_s": round((unique - start[1]) / max(seconds, 1e-9), 1),
                "peak_rss_mb": round(max(s.peak_rss_mb for s in stats), 1),
                "window_keys": int(last.get('tokenmeter_state_keys{table="windows"}', 0)),
                "seen_keys": int(last.get('tokenmeter_state_keys{table="seen"}', 0))}
    finally:
        for w in workers:
            w.stop()


def run(kafka: KafkaSettings, work: Path, *, events: int, span: int) -> dict[str, Any]:
    """Every run meters a fresh copy of its event set (its own topics and consumer group)."""
    out: dict[str, Any] = {"workers": [], "tenants": []}
    for processes in (1, 2):
        ns = f"scale{uuid.uuid4().hex[:8]}."
        unique = _event_set(kafka, ns, events=events, tenants=200, span=span)
        out["workers"].append(_meter(work / f"workers-{processes}", ns, processes, unique))
    for tenants in (1_000, 10_000, 100_000):
        ns = f"tenants{uuid.uuid4().hex[:8]}."
        unique = _event_set(kafka, ns, events=events, tenants=tenants, span=span)
        out["tenants"].append({"tenants": tenants, **_meter(work / f"tenants-{tenants}", ns, 1, unique)})
    return out
