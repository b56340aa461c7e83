"""The benchmark's floor: the fastest a Python consumer can take the event set off Kafka.

One aiokafka consumer, reading every partition of the topic (no group), fetches
and parses each record with orjson, and counts the events; nothing else. That is
the least any Python metering process must do, so tokenmeter's throughput is
quoted as a fraction of it. Run by ``make bench`` as its own process, so its CPU
and memory are its own:

    python -m tokenmeter.bench.floor TOPIC EVENTS

It prints one JSON line: events, seconds and cpu_s (from the first record to the
last event), peak_rss_mb.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

import orjson
from aiokafka import AIOKafkaConsumer

from tokenmeter.settings import KafkaSettings


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def drain(kafka: KafkaSettings, topic: str, events: int) -> tuple[int, float, float]:
    """(events read, seconds and CPU seconds from the first record to the last event)."""
    # No group: every partition, from the beginning, nothing committed.
    consumer = AIOKafkaConsumer(topic, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024,
                                **kafka.client_options())
    await consumer.start()
    try:
        seen, first, cpu0 = 0, 0.0, 0.0
        while seen < events:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if not first and batches:
                first, cpu0 = time.monotonic(), cpu_seconds()
            for records in batches.values():
                for record in records:
                    doc = orjson.loads(record.value)
                    seen += len(doc) if isinstance(doc, list) else 1
        return seen, time.monotonic() - first, cpu_seconds() - cpu0
    finally:
        await consumer.stop()


def main() -> None:
    topic, events = sys.argv[1], int(sys.argv[2])
    seen, seconds, cpu = asyncio.run(drain(KafkaSettings(), topic, events))
    print(json.dumps({"events": seen, "seconds": round(seconds, 3), "cpu_s": round(cpu, 3),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
