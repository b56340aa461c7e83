"""``make bench``: end-to-end throughput and freshness of the real worker, printed as JSON.

Phase 1 (throughput): N records (unique events plus ~5 % duplicates) are
produced to fresh topics first; then the worker starts and drains the backlog
through dedupe, windows, rating and the ClickHouse sink. Sustained events/s is
unique events divided by the time from the first counted event to the last
row stored. CPU seconds and peak RSS are the worker process's own.

Phase 2 (freshness): the same worker is offered a fixed rate of events stamped
with their send time; p50/p99 of (stored_at - event time) come from ClickHouse.

Exactness: stored unique events and token totals are compared with the plan.
The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from tokenmeter.bench.harness import WorkerProcess, free_port, sql_rows, tokenmeter_env
from tokenmeter.ingest import loadgen
from tokenmeter.ingest.producer import UsageEmitter, encode_event
from tokenmeter.settings import KafkaSettings, StreamSettings
from tokenmeter.stream.topics import ensure_topics


@dataclass
class ProcStats:
    cpu_s: float
    peak_rss_mb: float


def proc_stats(pid: int) -> ProcStats:
    """CPU seconds (user + system) and peak RSS of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss_kb = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                  if line.startswith("VmHWM:"))
    return ProcStats(cpu, rss_kb / 1024)


async def produce(kafka: KafkaSettings, topic: str, records: list[loadgen.Planned]) -> float:
    started = time.monotonic()
    async with UsageEmitter(kafka, topic, linger_ms=20) as emitter:
        await loadgen.send(emitter, records, rate=None)
    return time.monotonic() - started


async def offered_load(kafka: KafkaSettings, topic: str, rate: int, seconds: float, tenants: int) -> int:
    """Send ``rate`` events/s for ``seconds``, each stamped with its send time; return the count."""
    rng = random.Random(7)
    names = [f"fresh-{i:03d}" for i in range(tenants)]
    sent, tick = 0, 0.05
    per_tick = max(1, int(rate * tick))
    async with UsageEmitter(kafka, topic, linger_ms=5) as emitter:
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            futures = []
            now = loadgen.now_utc()
            for _ in range(per_tick):
                tenant = rng.choice(names)
                e = loadgen.make_event(rng, event_id=f"fresh-{sent}", tenant=tenant, when=now, source="bench")
                futures.append(await emitter.send_raw(tenant.encode(), encode_event(e)))
                sent += 1
            await emitter.acknowledged(futures, [1] * len(futures))
            ahead = start + sent / rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000, help="unique events in the throughput phase")
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--fresh-rate", type=int, default=300,
                        help="offered events/s in the freshness phase (below capacity: latency, not backlog)")
    parser.add_argument("--fresh-seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON result to this file")
    args = parser.parse_args()

    kafka = KafkaSettings()
    work = Path(mkdtemp(prefix="tokenmeter-bench-"))
    namespace = f"bench{uuid.uuid4().hex[:8]}."
    stream = StreamSettings(namespace=namespace)
    port = free_port()
    env = tokenmeter_env(namespace=namespace, chdb_dir=work / "clickhouse", http_port=port, var_dir=work / "var")

    spec = loadgen.LoadSpec(total=args.events, tenants=args.tenants, duplicate_ratio=0.05, invalid_ratio=0.0,
                            out_of_order_ratio=0.02, seed=args.seed, tenant_prefix="bench-")
    records, expected = loadgen.plan(spec, now=loadgen.now_utc())
    asyncio.run(ensure_topics(kafka, stream))
    produce_s = asyncio.run(produce(kafka, stream.events_topic, records))
    print(f"bench: produced {len(records)} records ({expected.unique} unique) in {produce_s:.1f}s", flush=True)

    worker = WorkerProcess(env, work / "worker.log")
    worker.start()
    try:
        worker.wait_ready()
        first: float | None = None
        while True:
            m = worker.metrics()
            counted = m.get("tokenmeter_events_counted_total", 0)
            stored_rows = m.get('tokenmeter_sink_rows_total{table="usage_events"}', 0)
            if first is None and counted > 0:
                first = time.monotonic()
            if stored_rows >= expected.unique:
                done = time.monotonic()
                break
            worker.check_alive()
            time.sleep(0.1)
        assert first is not None
        stats = proc_stats(worker.pid)
        elapsed = max(done - first, 1e-9)
        print(f"bench: drained {expected.unique} unique events in {elapsed:.2f}s", flush=True)

        fresh_cpu0 = stats.cpu_s
        sent = asyncio.run(offered_load(kafka, stream.events_topic, args.fresh_rate, args.fresh_seconds, 20))
        worker.wait_for(lambda: worker.metrics().get('tokenmeter_sink_rows_total{table="usage_events"}', 0)
                        >= expected.unique + sent, 120, "freshness events stored")
        fresh_stats = proc_stats(worker.pid)
    finally:
        worker.stop()

    fresh: dict[str, Any] = sql_rows(env, "SELECT count() AS n, "
                          "quantileExact(0.5)(dateDiff('millisecond', time, stored_at)) / 1000 AS p50, "
                          "quantileExact(0.99)(dateDiff('millisecond', time, stored_at)) / 1000 AS p99 "
                          "FROM usage_events FINAL WHERE startsWith(tenant, 'fresh-')")[0]
    stored = sql_rows(env, "SELECT count() AS n, toString(sum(input_tokens + cached_input_tokens + "
                           "cache_write_tokens + output_tokens + reasoning_tokens + audio_input_tokens + "
                           "audio_output_tokens + image_input_tokens)) AS tokens "
                           "FROM usage_events FINAL WHERE startsWith(tenant, 'bench-')")[0]
    windows = sql_rows(env, "SELECT toString(sum(input_tokens + cached_input_tokens + cache_write_tokens + "
                            "output_tokens + reasoning_tokens + audio_input_tokens + audio_output_tokens + "
                            "image_input_tokens)) AS tokens FROM usage_windows FINAL "
                            "WHERE startsWith(tenant, 'bench-')")[0]
    unique_stored = int(stored["n"])
    result: dict[str, Any] = {
        "machine": {"cpus": _cpus(), "python": platform.python_version(), "platform": platform.platform()},
        "events": expected.unique,
        "records": len(records),
        "producer_records_per_s": round(len(records) / produce_s, 1),
        "tokenmeter": {
            "events_per_s": round(expected.unique / elapsed, 1),
            "cpu_s_per_1k": round(stats.cpu_s / expected.unique * 1000, 4),
            "peak_rss_mb": round(stats.peak_rss_mb, 1),
            "freshness_offered_per_s": args.fresh_rate,
            "freshness_events": int(fresh["n"]),
            "freshness_p50_s": float(fresh["p50"]),
            "freshness_p99_s": float(fresh["p99"]),
            "freshness_cpu_s": round(fresh_stats.cpu_s - fresh_cpu0, 2),
            "lost": max(0, expected.unique - unique_stored),
            "double": max(0, unique_stored - expected.unique),
            "tokens_expected": expected.total_tokens(),
            "tokens_in_events": int(stored["tokens"]),
            "tokens_in_windows": int(windows["tokens"]),
        },
    }
    line = json.dumps(result, separators=(",", ":"))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(line)
    meter: dict[str, Any] = result["tokenmeter"]
    exact = (meter["lost"] == 0 and meter["double"] == 0
             and int(windows["tokens"]) == int(stored["tokens"]) == expected.total_tokens())
    raise SystemExit(0 if exact else 1)


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
