"""Producer SDK for gateways: send usage events to Kafka, acknowledged by all in-sync replicas.

The producer is idempotent (``enable_idempotence``, ``acks=all``), so its own
retries never duplicate a record; the meter additionally drops resends of the
same (tenant, id). Records are keyed by tenant so one tenant's events share a
partition, and batched by aiokafka with a short linger.

``await emitter.emit(event)`` returns once Kafka has acknowledged the event and
raises :class:`EmitError` otherwise: an event is never silently dropped.
:class:`SyncUsageEmitter` offers the same for synchronous gateways.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Coroutine, Iterable, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from tokenmeter.events.models import MAX_BATCH_EVENTS, UsageEvent
from tokenmeter.ingest.errors import EmitError
from tokenmeter.observability import metrics
from tokenmeter.settings import KafkaSettings

T = TypeVar("T")


def encode_event(event: UsageEvent) -> bytes:
    return event.model_dump_json(exclude_none=True).encode()


def encode_batch(events: Sequence[UsageEvent]) -> bytes:
    return b"[" + b",".join(encode_event(e) for e in events) + b"]"


class UsageEmitter:
    """Async emitter. Use as ``async with UsageEmitter(settings, topic) as emitter:``."""

    def __init__(self, kafka: KafkaSettings, topic: str, *, linger_ms: int = 10,
                 max_batch_bytes: int = 512 * 1024, request_timeout_ms: int = 30_000) -> None:
        self.topic = topic
        self._producer = AIOKafkaProducer(
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            max_batch_size=max_batch_bytes,
            max_request_size=2 * 1024 * 1024,
            request_timeout_ms=request_timeout_ms,
            **kafka.client_options(),
        )

    async def start(self) -> None:
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()  # release what start() opened before it failed
            raise EmitError(f"cannot connect the producer: {exc}") from exc

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> UsageEmitter:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def emit(self, event: UsageEvent) -> None:
        """Send one event and wait for Kafka's acknowledgement."""
        await self._acked(await self.send_raw(event.subject.encode(), encode_event(event)), 1)

    async def emit_many(self, events: Iterable[UsageEvent]) -> None:
        """Send events (one record each), pipelined; return when all are acknowledged."""
        pending = [await self.send_raw(e.subject.encode(), encode_event(e)) for e in events]
        await self.acknowledged(pending, [1] * len(pending))

    async def emit_batch(self, events: Sequence[UsageEvent]) -> None:
        """Send one tenant's events as one record (CloudEvents batch). Cheaper for the meter."""
        if not events:
            return
        tenants = {e.subject for e in events}
        if len(tenants) != 1:
            raise ValueError(f"a batch must hold one tenant's events, got {sorted(tenants)}")
        if len(events) > MAX_BATCH_EVENTS:
            raise ValueError(f"a batch holds at most {MAX_BATCH_EVENTS} events, got {len(events)}")
        await self._acked(await self.send_raw(events[0].subject.encode(), encode_batch(events)), len(events))

    async def send_raw(self, key: bytes | None, value: bytes) -> asyncio.Future[Any]:
        """Enqueue one record; the returned future resolves when Kafka acknowledges it.

        Exposed for tools that must send bytes the contract would refuse (tests, load generation).
        """
        try:
            future: asyncio.Future[Any] = await self._producer.send(self.topic, value=value, key=key)
            return future
        except KafkaError as exc:
            metrics.PRODUCER_EVENTS_FAILED.inc()
            raise EmitError(f"cannot enqueue a record for {self.topic}: {exc}") from exc

    async def flush(self) -> None:
        await self._producer.flush()

    async def _acked(self, future: Awaitable[Any], n: int) -> None:
        await self.acknowledged([future], [n])

    async def acknowledged(self, futures: Sequence[Awaitable[Any]], counts: Sequence[int]) -> None:
        """Wait for every future; count them; raise ``EmitError`` if any record was refused."""
        results = await asyncio.gather(*futures, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        sent = sum(n for r, n in zip(results, counts, strict=True) if not isinstance(r, BaseException))
        metrics.PRODUCER_EVENTS_SENT.inc(sent)
        if failed:
            metrics.PRODUCER_EVENTS_FAILED.inc(sum(counts) - sent)
            raise EmitError(f"{len(failed)} of {len(futures)} records not acknowledged: {failed[0]!r}")


class SyncUsageEmitter:
    """Blocking wrapper for synchronous gateways: runs the async emitter on a private loop thread.

    ``emit`` blocks until Kafka acknowledges the event or raises :class:`EmitError`.
    Call :meth:`close` (or use it as a context manager) to flush and stop.
    """

    def __init__(self, kafka: KafkaSettings, topic: str, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tokenmeter-emitter", daemon=True)
        self._thread.start()
        self._emitter: UsageEmitter = self._run(self._make(kafka, topic, options))
        self._run(self._emitter.start())

    async def _make(self, kafka: KafkaSettings, topic: str, options: dict[str, Any]) -> UsageEmitter:
        return UsageEmitter(kafka, topic, **options)  # aiokafka wants to be built inside its loop

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def emit(self, event: UsageEvent) -> None:
        self._run(self._emitter.emit(event))

    def emit_many(self, events: Iterable[UsageEvent]) -> None:
        self._run(self._emitter.emit_many(list(events)))

    async def emit_from_loop(self, event: UsageEvent) -> None:
        """``emit`` for a caller in another event loop: awaits the ack without blocking that loop."""
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._emitter.emit(event), self._loop))

    def emit_batch(self, events: Sequence[UsageEvent]) -> None:
        self._run(self._emitter.emit_batch(events))

    def close(self) -> None:
        try:
            self._run(self._emitter.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def __enter__(self) -> SyncUsageEmitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
