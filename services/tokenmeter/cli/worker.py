"""Composition root of the meter process: settings -> ClickHouse -> topics -> Faust app -> run."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from tokenmeter.faults import Faults
from tokenmeter.ingest.loadgen import make_event, now_utc
from tokenmeter.ingest.producer import UsageEmitter
from tokenmeter.pricing.catalog import load_price_book
from tokenmeter.settings import Settings
from tokenmeter.storage.clickhouse import connect
from tokenmeter.storage.migrations import migrate
from tokenmeter.stream.app import build_app
from tokenmeter.stream.topics import ensure_topics

log = logging.getLogger(__name__)


def run_worker(settings: Settings, *, demo_rate: float = 0.0, loglevel: str = "info", sink: bool = True) -> None:
    """Run the meter, the sink and the HTTP pages until SIGINT/SIGTERM. Exits the process when done.

    Without ``sink`` the process never opens ClickHouse: with the embedded engine only one
    process may own its files, so extra meter workers run with ``sink=False``.
    """
    (settings.stream.var_dir / "faust").mkdir(parents=True, exist_ok=True)  # Faust makes only the leaf
    faults = Faults(settings.stream.faults_dir)
    db = None
    if sink:
        db = connect(settings.clickhouse, faults=faults)
        applied = migrate(db)
        if applied:
            log.info("applied migrations: %s", ", ".join(f"{m.version:04d}_{m.name}" for m in applied))
    asyncio.run(ensure_topics(settings.kafka, settings.stream))
    app = build_app(settings, db=db, prices=load_price_book(settings.stream.price_book), faults=faults)
    if demo_rate > 0:
        app.task(_demo_load(settings, demo_rate))
    # mode maps level names case-sensitively: "info" would silently mean NOTSET (everything, DEBUG too).
    worker = faust.Worker(app, loglevel=loglevel.upper(), quiet=True)
    # At WARNING and above, Faust keeps a terminal spinner that sets the root logger to DEBUG, so
    # every debug line of aiokafka and Faust was built into a record and then dropped: ~9 % of the
    # worker's CPU in the benchmark profile. No spinner, and the level is the one asked for.
    worker.spinner = None
    worker.execute_from_commandline()


def _demo_load(settings: Settings, rate: float) -> Callable[[], Awaitable[None]]:
    """A gateway stand-in: a steady stream of plausible events for a few tenants."""

    async def demo() -> None:
        rng = random.Random()
        tenants = [f"demo-{name}" for name in ("acme", "globex", "initech", "umbrella", "hooli")]
        n = 0
        async with UsageEmitter(settings.kafka, settings.stream.events_topic) as emitter:
            while True:
                burst: list[Any] = []
                for _ in range(max(1, int(rate / 10))):
                    n += 1
                    burst.append(make_event(rng, event_id=f"demo-{rng.getrandbits(64):016x}-{n}",
                                            tenant=rng.choice(tenants), when=now_utc(), source="demo-gateway"))
                await emitter.emit_many(burst)
                await asyncio.sleep(0.1)

    return demo
