"""``make bench``: tokenmeter against the floor and a Quix Streams peer, on one broker, one event set.

The event set: ``--events`` unique usage events (default 200,000) for
``--tenants`` tenants, ~5 % of them sent again later (duplicates) and ~2 %
arriving a window or more late, over seven models and every token class. It is
packed as the API and ``emit_batch`` pack it: each run of ``--span`` events (a
gateway fleet's batching interval) becomes one record per tenant holding that
tenant's events (a CloudEvents batch). It is produced once to a fresh topic,
and all three contenders read those same records:

1. **floor** (``tokenmeter.bench.floor``): an aiokafka consumer that fetches and
   parses; nothing else.
2. **peer** (``peer_quix.py``, its own virtualenv): dedupe per tenant, tumbling
   event-time windows per tenant and model, totals into ClickHouse (chdb).
3. **tokenmeter**: ``tokenmeter worker`` (meter, pricing, both ClickHouse tables).

Each runs alone, in its own process, so its CPU seconds and peak RSS are its own
(the broker runs beside all of them). This is done ``--rounds`` times (default 3), each round on
a fresh topic holding the same records; each contender's figures are those of its median round
by events/s, and every round's events/s is kept under ``rounds`` (these shared machines drift by
several percent within minutes). events/s counts every event read,
duplicates included, from the first record taken to the last row stored; CPU is
counted over the same span. Then, in the last round, tokenmeter is offered ``--fresh-rate`` events/s
(default 5,000) for ``--fresh-seconds``, stamped with their send time, and
freshness p50/p99 (stored_at - event time) comes from ClickHouse. Exactness:
the stored unique events and token totals against the plan (``lost``,
``double``), and the peer's token total against the plan as well.

Then the scale-out runs (``tokenmeter.bench.scale``, meter only): the same kind
of event set metered by 1 and by 2 worker processes on 8 partitions, and by one
worker with 1k, 10k and 100k active tenants (state keys and peak RSS).

The last line of stdout is the result as one JSON object; ``--out`` also writes
it (indented) with the machine it ran on. Exit status 1 if tokenmeter was not
exact.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import orjson

from tokenmeter.bench import scale
from tokenmeter.bench.harness import WorkerProcess, free_port, sql_rows, tokenmeter_env
from tokenmeter.events.models import TOKEN_CLASSES
from tokenmeter.ingest import loadgen
from tokenmeter.ingest.producer import UsageEmitter, encode_batch
from tokenmeter.settings import KafkaSettings, StreamSettings
from tokenmeter.stream.topics import ensure_topics

PEER_SCRIPT = Path(__file__).with_name("peer_quix.py")
ALL_TOKENS = " + ".join(TOKEN_CLASSES)


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


def figures(events: int, seconds: float, cpu_s: float, peak_rss_mb: float) -> dict[str, float]:
    return {"events_per_s": round(events / max(seconds, 1e-9), 1), "seconds": round(seconds, 3),
            "cpu_s_per_1k": round(cpu_s / events * 1000, 4), "peak_rss_mb": round(peak_rss_mb, 1)}


async def produce(kafka: KafkaSettings, topic: str, records: list[loadgen.Planned]) -> float:
    started = time.monotonic()
    async with UsageEmitter(kafka, topic, linger_ms=20) as emitter:
        await loadgen.send(emitter, records, rate=None)
    return time.monotonic() - started


async def offered_load(kafka: KafkaSettings, topic: str, rate: int, seconds: float, tenants: int) -> int:
    """Send ``rate`` events/s for ``seconds``, each stamped with its send time; return the count.

    Every 50 ms the events of that tick go out as one batch record per tenant, as a gateway
    using ``emit_batch`` (or the API) sends them."""
    rng = random.Random(7)
    names = [f"fresh-{i:03d}" for i in range(tenants)]
    sent, tick = 0, 0.05
    per_tick = max(1, int(rate * tick))
    async with UsageEmitter(kafka, topic, linger_ms=5) as emitter:
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            now = loadgen.now_utc()
            by_tenant: dict[str, list[Any]] = {}
            for _ in range(per_tick):
                tenant = rng.choice(names)
                by_tenant.setdefault(tenant, []).append(
                    loadgen.make_event(rng, event_id=f"fresh-{sent}", tenant=tenant, when=now, source="bench"))
                sent += 1
            futures = [await emitter.send_raw(t.encode(), encode_batch(evs)) for t, evs in by_tenant.items()]
            await emitter.acknowledged(futures, [len(evs) for evs in by_tenant.values()])
            ahead = start + sent / rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
    return sent


def run_json(argv: list[str], timeout: float) -> dict[str, Any]:
    """Run a contender to completion; its last stdout line is its JSON result."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_tokenmeter(env: dict[str, str], work: Path, unique: int, inputs: int, tokens: int, args: argparse.Namespace,
                   kafka: KafkaSettings, topic: str, *, freshness: bool) -> dict[str, Any]:
    worker = WorkerProcess(env, work / "worker.log")
    sent, fresh_cpu = 0, 0.0
    worker.start()
    try:
        worker.wait_ready()
        # A /metrics scrape renders every series: at two scrapes a second it was 3 % of the worker's
        # CPU in the profile (Prometheus scrapes every 15 s). So the start is caught by frequent
        # scrapes while the worker is still idle, the end by scrapes every 2 s, and the end time
        # is then read from ClickHouse: the stored_at (now64() at insert) of the last event row.
        first: float | None = None
        cpu0 = 0.0
        while first is None:
            if worker.metrics().get("tokenmeter_events_received_total", 0) > 0:
                first, cpu0 = time.time(), proc_stats(worker.pid).cpu_s
            else:
                worker.check_alive()
                time.sleep(0.1)
        while worker.metrics().get('tokenmeter_sink_rows_total{table="usage_events"}', 0) < unique:
            worker.check_alive()
            time.sleep(2.0)
        stats = proc_stats(worker.pid)

        def windows_stored() -> bool:  # the last snapshots trail the last event rows by a flush or two
            docs = orjson.loads(worker.get("/v1/totals"))
            return sum(int(d[c]) for d in docs for c in TOKEN_CLASSES) >= tokens

        worker.wait_for(windows_stored, 120, "every window snapshot stored")
        if freshness:
            sent = asyncio.run(offered_load(kafka, topic, args.fresh_rate, args.fresh_seconds, 20))
            worker.wait_for(lambda: worker.metrics().get('tokenmeter_sink_rows_total{table="usage_events"}', 0)
                            >= unique + sent, 120, "freshness events stored")
            fresh_cpu = proc_stats(worker.pid).cpu_s - stats.cpu_s
    finally:
        worker.stop()
    # Every bench- row was stored before the freshness phase began (it sends fresh- tenants only).
    last_stored = float(sql_rows(env, "SELECT toUnixTimestamp64Milli(max(stored_at)) / 1000 AS t "
                                      "FROM usage_events WHERE startsWith(tenant, 'bench-')")[0]["t"])
    throughput = figures(inputs, last_stored - first, stats.cpu_s - cpu0, stats.peak_rss_mb)
    print(f"bench: tokenmeter took {inputs} events in {last_stored - first:.2f}s", file=sys.stderr, flush=True)
    fresh = sql_rows(env, "SELECT count() AS n, "
                          "quantileExact(0.5)(dateDiff('millisecond', time, stored_at)) / 1000 AS p50, "
                          "quantileExact(0.99)(dateDiff('millisecond', time, stored_at)) / 1000 AS p99 "
                          "FROM usage_events FINAL WHERE startsWith(tenant, 'fresh-')")[0] if freshness else {}
    stored = sql_rows(env, f"SELECT count() AS n, toString(sum({ALL_TOKENS})) AS tokens "
                           "FROM usage_events FINAL WHERE startsWith(tenant, 'bench-')")[0]
    windows = sql_rows(env, f"SELECT toString(sum({ALL_TOKENS})) AS tokens FROM usage_windows FINAL "
                            "WHERE startsWith(tenant, 'bench-')")[0]
    exact = {"lost": max(0, unique - int(stored["n"])), "double": max(0, int(stored["n"]) - unique),
             "tokens_in_events": int(stored["tokens"]), "tokens_in_windows": int(windows["tokens"])}
    if not freshness:
        return {**throughput, **exact}
    return {**throughput,
            "freshness_offered_per_s": args.fresh_rate, "freshness_events": int(fresh["n"]),
            "freshness_p50_s": float(fresh["p50"]), "freshness_p99_s": float(fresh["p99"]),
            "freshness_cpu_s_per_1k": round(fresh_cpu / max(sent, 1) * 1000, 4), **exact}


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="unique events in the event set")
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--span", type=int, default=2_000,
                        help="events per batching interval, packed into one record per tenant (1: one per record)")
    parser.add_argument("--fresh-rate", type=int, default=5_000, help="offered events/s in the freshness phase")
    parser.add_argument("--fresh-seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of floor, peer and tokenmeter on the same event set; the median is reported")
    parser.add_argument("--peer-python", type=Path, default=Path(".venv-peer/bin/python"),
                        help="python of the virtualenv with quixstreams (make bench creates it)")
    parser.add_argument("--scale-events", type=int, default=200_000,
                        help="events per scale-out run (1 and 2 workers; 1k, 10k, 100k tenants); 0 skips them")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON result to this file")
    args = parser.parse_args()
    if not args.peer_python.exists():
        raise SystemExit(f"no Quix Streams virtualenv at {args.peer_python}: run `make bench`, which creates it")

    kafka = KafkaSettings()
    work = Path(mkdtemp(prefix="tokenmeter-bench-"))
    spec = loadgen.LoadSpec(total=args.events, tenants=args.tenants, duplicate_ratio=0.05, invalid_ratio=0.0,
                            out_of_order_ratio=0.02, seed=args.seed, tenant_prefix="bench-")
    planned, expected = loadgen.plan(spec, now=loadgen.now_utc())
    records = loadgen.coalesce(planned, span=args.span) if args.span > 1 else planned
    inputs = expected.unique + expected.duplicates

    # Each round: the same records to a fresh topic, then the three contenders one after the other.
    # The machine's speed drifts by several percent within minutes, so the figures reported are
    # the round with the median events/s of each contender; every round's figures are kept.
    rounds: dict[str, list[dict[str, Any]]] = {"floor": [], "peer": [], "tokenmeter": []}
    produce_s = 0.0
    for r in range(args.rounds):
        last = r == args.rounds - 1
        namespace = f"bench{uuid.uuid4().hex[:8]}."
        stream = StreamSettings(namespace=namespace)
        folder = work / f"round-{r}"
        env = tokenmeter_env(namespace=namespace, chdb_dir=folder / "clickhouse", http_port=free_port(),
                             var_dir=folder / "var", extra={"TOKENMETER_HTTP_API_PORT": "0"})
        asyncio.run(ensure_topics(kafka, stream))
        produce_s = asyncio.run(produce(kafka, stream.events_topic, records))
        print(f"bench: round {r + 1}/{args.rounds}: produced {inputs} events in {len(records)} records in "
              f"{produce_s:.1f}s", file=sys.stderr, flush=True)
        floor = run_json([sys.executable, "-m", "tokenmeter.bench.floor", stream.events_topic, str(inputs)], 300)
        rounds["floor"].append(figures(inputs, floor["seconds"], floor["cpu_s"], floor["peak_rss_mb"]))
        print(f"bench: floor {floor}", file=sys.stderr, flush=True)
        peer = run_json([str(args.peer_python), str(PEER_SCRIPT), "--topic", stream.events_topic,
                         "--events", str(expected.unique), "--clickhouse", str(folder / "clickhouse-peer"),
                         "--state", str(folder / "quix-state"), "--broker", kafka.bootstrap_servers], 900)
        rounds["peer"].append({**figures(inputs, peer["seconds"], peer["cpu_s"], peer["peak_rss_mb"]),
                               "tokens_exact": peer["tokens"] == expected.total_tokens()})
        print(f"bench: peer {peer}", file=sys.stderr, flush=True)
        # freshness is measured once, by the last round's worker, after its throughput phase
        rounds["tokenmeter"].append(run_tokenmeter(env, folder, expected.unique, inputs, expected.total_tokens(),
                                                   args, kafka, stream.events_topic, freshness=last))

    def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
        ranked = sorted(runs, key=lambda f: f["events_per_s"])
        return dict(ranked[(len(ranked) - 1) // 2])

    meter = median(rounds["tokenmeter"])
    meter.update({k: v for k, v in rounds["tokenmeter"][-1].items() if k.startswith("freshness")})
    meter["lost"] = max(t["lost"] for t in rounds["tokenmeter"])
    meter["double"] = max(t["double"] for t in rounds["tokenmeter"])
    result: dict[str, Any] = {
        "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version(),
                    "platform": platform.platform()},
        "event_set": {"unique": expected.unique, "duplicates": expected.duplicates, "records": len(records),
                      "events_per_record": round(inputs / len(records), 2), "tenants": args.tenants,
                      "tokens": expected.total_tokens(), "producer_events_per_s": round(inputs / produce_s, 1)},
        "floor": median(rounds["floor"]),
        "peer": median(rounds["peer"]),
        "tokenmeter": meter,
        "rounds": {name: [f["events_per_s"] for f in runs] for name, runs in rounds.items()},
    }
    result["rounds"]["tokenmeter_vs_peer"] = [
        round(t["events_per_s"] / p["events_per_s"], 4) for t, p in zip(rounds["tokenmeter"], rounds["peer"],
                                                                           strict=True)]
    if args.scale_events:
        print("bench: scale-out runs (meter only)", file=sys.stderr, flush=True)
        result["scale_out"] = scale.run(kafka, work / "scale", events=args.scale_events, span=args.span)
    result["ratios"] = {
        "tokenmeter_vs_floor": round(meter["events_per_s"] / result["floor"]["events_per_s"], 4),
        "tokenmeter_vs_peer": round(meter["events_per_s"] / result["peer"]["events_per_s"], 4),
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, separators=(",", ":")), flush=True)
    exact = all(t["lost"] == 0 and t["double"] == 0
                and t["tokens_in_events"] == t["tokens_in_windows"] == expected.total_tokens()
                for t in rounds["tokenmeter"])
    raise SystemExit(0 if exact else 1)


if __name__ == "__main__":
    main()
