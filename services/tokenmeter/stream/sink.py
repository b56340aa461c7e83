"""The ClickHouse sink: accepted events and window snapshots from Kafka into ClickHouse, batched.

Offsets are committed only after the rows they carried are stored, so a crash
or a ClickHouse outage never loses data: the rows are re-read and re-written,
and both tables collapse repeats (ReplacingMergeTree keyed by (tenant, id),
and by window key with the snapshot version). While ClickHouse is down the
sink retries the same batch with capped exponential backoff and reads nothing
new (backpressure); it never drops a batch.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, KafkaError

from tokenmeter.faults import KILL_AFTER_SINK_INSERT, NO_FAULTS, Faults
from tokenmeter.observability import metrics
from tokenmeter.settings import KafkaSettings, StreamSettings
from tokenmeter.storage.clickhouse import ClickHouse
from tokenmeter.storage.errors import StorageError
from tokenmeter.stream.transport import FETCH_MAX_WAIT_MS

log = logging.getLogger(__name__)

# Null tables: their materialized views write usage_events and usage_windows (migrations 0009-0012)
EVENTS_IN: Final = "usage_events_in"
WINDOWS_IN: Final = "usage_windows_in"


# Header of an accepted-events message: its events' times, little-endian int64 epoch ms, in
# document order. The sink counts the events and measures freshness from it without decoding
# the JSON, which ClickHouse parses instead (usage_events_in, migration 0009).
TIMES_HEADER: Final = "tokenmeter-times-ms"


def times_header(times_ms: Sequence[int]) -> tuple[str, bytes]:
    return TIMES_HEADER, struct.pack(f"<{len(times_ms)}q", *times_ms)


@dataclass(slots=True)
class Batch:
    """What was read since the last flush, still as the JSON documents the meter published."""

    event_docs: list[bytes] = field(default_factory=list)  # comma-separated documents, per message
    event_times_ms: list[int] = field(default_factory=list)  # one per accepted event
    window_docs: list[bytes] = field(default_factory=list)
    windows: int = 0  # window snapshots in window_docs
    started: float = 0.0

    @property
    def events(self) -> int:
        return len(self.event_times_ms)  # the meter writes one time per document

    def events_json(self) -> bytes:
        """Every accepted-event document read, as one JSON array."""
        return _array(self.event_docs)

    def windows_json(self) -> bytes:
        """Every window snapshot read, as one JSON array."""
        return _array(self.window_docs)

    def __len__(self) -> int:
        return self.events + self.windows


def _array(parts: list[bytes]) -> bytes:
    return b"[" + b",".join(parts) + b"]"


def _members(value: bytes) -> bytes:
    """A message's documents without the enclosing array brackets (one object stays as it is)."""
    body = value.strip()
    return body[1:-1].strip() if body[:1] == b"[" else body


def add_message(batch: Batch, topic: str, value: bytes, *, accepted_topic: str,
                headers: Sequence[tuple[str, bytes]] = ()) -> None:
    """Add one message. A message holds one document or a JSON array of them; the documents
    go to ClickHouse as they are (it parses them: usage_events_in, usage_windows_in).

    An accepted-events message's event times come from its times header; one without the header
    (published before it existed) is decoded for them. Snapshot messages are decoded only to be
    counted: there are a few per tenant window and flush, not one per event."""
    if topic != accepted_topic:
        n = len(load_list(value))
        if n:
            batch.window_docs.append(_members(value))
            batch.windows += n
        return
    body = _members(value)
    if not body:  # an empty array
        return
    # Whether documents are stored is decided by the body alone: the header only counts them.
    packed = next((v for k, v in headers if k == TIMES_HEADER), b"")
    times = struct.unpack(f"<{len(packed) // 8}q", packed)
    if not times:  # no header (or an empty one beside documents): read the times from the JSON
        times = tuple(doc["time_ms"] for doc in load_list(value))
    batch.event_docs.append(body)
    batch.event_times_ms.extend(times)


def load_list(value: bytes) -> list[dict[str, Any]]:
    docs = orjson.loads(value)
    return docs if isinstance(docs, list) else [docs]


class Sink:
    def __init__(
        self,
        kafka: KafkaSettings,
        stream: StreamSettings,
        db: ClickHouse,
        *,
        clock: Callable[[], float] = time.time,
        faults: Faults = NO_FAULTS,
    ) -> None:
        self._kafka = kafka
        self._stream = stream
        self._db = db
        self._clock = clock
        self._faults = faults

    async def run(self) -> None:
        """Consume until cancelled. Rows read but not yet committed when the task is
        cancelled are read again by the next run and collapsed by the tables."""
        consumer = AIOKafkaConsumer(
            self._stream.accepted_topic,
            self._stream.windows_topic,
            group_id=self._stream.sink_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._stream.sink_batch_rows,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,  # the windows topic is quiet between flushes: see transport.py
            **self._kafka.client_options(),
        )
        await consumer.start()
        try:
            await self._loop(consumer)
        finally:
            await consumer.stop()

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        batch = Batch(started=time.monotonic())
        next_lag = 0.0
        while True:
            records = await consumer.getmany(timeout_ms=int(self._stream.sink_batch_seconds * 1000 / 2))
            for tp_records in records.values():
                for record in tp_records:
                    add_message(batch, record.topic, record.value, accepted_topic=self._stream.accepted_topic,
                                headers=record.headers)
            due = time.monotonic() - batch.started >= self._stream.sink_batch_seconds
            if len(batch) and (due or len(batch) >= self._stream.sink_batch_rows):
                await self._flush(batch)
                self._faults.kill_self_if(KILL_AFTER_SINK_INSERT)
                await self._commit(consumer)
                batch = Batch(started=time.monotonic())
            elif due:
                batch.started = time.monotonic()
            if time.monotonic() >= next_lag:
                await record_lag(consumer, self._stream.sink_group)
                next_lag = time.monotonic() + 5.0

    async def _flush(self, batch: Batch) -> None:
        if batch.events:
            data = batch.events_json()
            await self._write_with_retry("usage_events", batch.events, lambda: self._db.ainsert_json(EVENTS_IN, data))
        if batch.windows:
            windows = batch.windows_json()
            await self._write_with_retry("usage_windows", batch.windows,
                                         lambda: self._db.ainsert_json(WINDOWS_IN, windows))
        now_ms = int(self._clock() * 1000)
        for t in batch.event_times_ms:
            metrics.FRESHNESS_SECONDS.observe(max(0.0, (now_ms - t) / 1000))

    async def _write_with_retry(self, table: str, rows: int, insert: Callable[[], Awaitable[None]]) -> None:
        """Store ``rows`` rows in ``table`` with ``insert``; both tables are idempotent to re-insert,
        so retrying is safe. Never gives up."""
        delay, attempt = 0.2, 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                await insert()
            except StorageError as exc:
                metrics.SINK_FAILURES.inc()
                log.warning("sink: insert of %d rows into %s failed (attempt %d, retrying in %.1fs): %s",
                            rows, table, attempt, delay, exc)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self._stream.sink_retry_max_seconds)
                continue
            metrics.SINK_FLUSH_SECONDS.labels(table).observe(time.monotonic() - started)
            metrics.SINK_ROWS.labels(table).inc(rows)
            return

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        try:
            await consumer.commit()
        except (CommitFailedError, KafkaError) as exc:
            # The group rebalanced while we wrote: the new owner re-reads these rows and
            # re-writes them, which the tables collapse. Nothing is lost.
            log.warning("sink: offset commit failed, rows will be re-read: %s", exc)


async def record_lag(consumer: Any, group: str, topics: set[str] | None = None) -> None:
    """Set the lag gauge for every assigned partition (of ``topics``) of an aiokafka-like consumer."""
    for tp in consumer.assignment():
        if topics is not None and tp.topic not in topics:
            continue
        try:
            highwater = consumer.highwater(tp)
            pos = await consumer.position(tp)
        except (KafkaError, AssertionError, TypeError):  # partition revoked meanwhile
            continue
        if highwater is not None and pos is not None:
            metrics.CONSUMER_LAG.labels(group, tp.topic, str(tp.partition)).set(max(0, highwater - pos))
