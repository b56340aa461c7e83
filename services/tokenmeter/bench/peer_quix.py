"""The benchmark's peer: tokenmeter's per-tenant windowed aggregation written with Quix Streams.

What a team would write with the main alternative Python stream processor, doing
the same work on the same records: parse each record (one event or a batch),
drop repeated ids per tenant (state keyed by the record key, RocksDB), window by
event time (tumbling, tokenmeter's 60 s), sum requests and every token class per
(provider, model) inside the tenant's window, and write the window totals to
ClickHouse (the same embedded engine, chdb). Late events are kept as long as
tokenmeter keeps them (grace = its 7-day lateness horizon); Quix's default
at-least-once guarantee. Prices are not applied: rating is tokenmeter's extra.

It runs in its own virtualenv (.venv-peer: quixstreams pins pydantic and
confluent-kafka versions of its own) and imports nothing from tokenmeter:

    .venv-peer/bin/python services/tokenmeter/bench/peer_quix.py \\
        --topic T --events N --clickhouse DIR --state DIR

It stops after N events got through the dedupe (``Application.run(count=N)``),
which commits the last checkpoint and so flushes the sink, and prints one JSON
line: events, seconds and cpu_s (first record to the flushed end), peak_rss_mb,
and the token total it stored (checked against the plan).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import uuid
from datetime import datetime
from typing import Any

import chdb.session
import orjson
from quixstreams import Application
from quixstreams.sinks import BatchingSink, SinkBatch

# tokenmeter's token classes, in its order (events.models.TOKEN_CLASSES; not imported, see above).
CLASSES = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
           "audio_input_tokens", "audio_output_tokens", "image_input_tokens")
WINDOW_MS = 60_000
GRACE_MS = 7 * 24 * 3600 * 1000
TABLE = f"""CREATE TABLE IF NOT EXISTS peer_windows (
    tenant String, window_start DateTime64(3, 'UTC'), provider String, model String,
    version UInt64, requests UInt64, {", ".join(f"{c} UInt64" for c in CLASSES)}
) ENGINE = ReplacingMergeTree(version) ORDER BY (tenant, window_start, provider, model)"""


class ClickHouseWindows(BatchingSink):
    """Window totals into ClickHouse at each checkpoint; the newest value of a window wins."""

    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = session
        self.version = 0

    def write(self, batch: SinkBatch) -> None:
        latest: dict[tuple[str, int], dict[str, list[int]]] = {}
        for item in batch:
            latest[(item.key.decode(), item.value["start"])] = item.value["value"]
        self.version += 1
        rows = []
        for (tenant, start), per_model in latest.items():
            for model_key, sums in per_model.items():
                provider, model = model_key.split("|", 1)
                rows.append({"tenant": tenant, "window_start": start / 1000, "provider": provider, "model": model,
                             "version": self.version, "requests": sums[0],
                             **dict(zip(CLASSES, sums[1:], strict=True))})
        if rows:
            body = b"\n".join(orjson.dumps(r) for r in rows).decode()
            self.session.query(f"INSERT INTO peer_windows FORMAT JSONEachRow\n{body}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--topic", required=True)
    parser.add_argument("--events", type=int, required=True, help="unique events to wait for")
    parser.add_argument("--clickhouse", required=True, help="chdb data folder")
    parser.add_argument("--state", required=True, help="Quix state folder")
    parser.add_argument("--broker", default="127.0.0.1:9092")
    args = parser.parse_args()

    session = chdb.session.Session(args.clickhouse)
    session.query(TABLE)
    app = Application(broker_address=args.broker, consumer_group=f"peer-{uuid.uuid4().hex[:8]}",
                      auto_offset_reset="earliest", state_dir=args.state, loglevel="WARNING")
    topic = app.topic(args.topic, key_deserializer="bytes", value_deserializer="bytes")
    started: list[float] = []  # wall clock and CPU seconds at the first record

    def parse(value: bytes) -> list[dict[str, Any]]:
        if not started:
            started.extend((time.monotonic(), cpu_seconds()))
        doc = orjson.loads(value)
        return doc if isinstance(doc, list) else [doc]

    def first_time(event: dict[str, Any], state: Any) -> bool:
        if state.get(event["id"]) is not None:
            return False
        state.set(event["id"], 1)
        return True

    def event_time(value: dict[str, Any], key: Any, timestamp: int, headers: Any) -> int:
        return int(datetime.fromisoformat(value["time"]).timestamp() * 1000)

    def add(totals: dict[str, list[int]], event: dict[str, Any]) -> dict[str, list[int]]:
        data = event["data"]
        sums = totals.setdefault(f"{data['provider']}|{data['model']}", [0] * (1 + len(CLASSES)))
        sums[0] += data.get("requests", 1)
        for i, name in enumerate(CLASSES, start=1):
            sums[i] += data.get(name, 0)
        return totals

    sdf = app.dataframe(topic)
    sdf = sdf.apply(parse, expand=True)
    sdf = sdf.filter(first_time, stateful=True)
    sdf = sdf.set_timestamp(event_time)
    sdf = sdf.tumbling_window(duration_ms=WINDOW_MS, grace_ms=GRACE_MS).reduce(
        reducer=add, initializer=lambda event: add({}, event)).current()
    sdf.sink(ClickHouseWindows(session))
    app.run(count=args.events, collect=False)
    seconds, cpu = time.monotonic() - started[0], cpu_seconds() - started[1]
    tokens = str(session.query(f"SELECT sum({' + '.join(CLASSES)}) FROM peer_windows FINAL", "CSV"))
    print(json.dumps({"events": args.events, "seconds": round(seconds, 3), "cpu_s": round(cpu, 3),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "tokens": int(tokens.strip() or 0)}))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
