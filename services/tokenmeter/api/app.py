"""The HTTP API application: ingest and query routers, and a server that runs inside a worker.

In embedded mode the process that owns the ClickHouse files (the worker with the
sink) must answer queries, so the API runs in that process's event loop as one
more task, on ``TOKENMETER_HTTP_API_PORT``. Signals stay with the worker.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from tokenmeter.api.ingest import ingest_router
from tokenmeter.api.usage import usage_router
from tokenmeter.ingest.producer import UsageEmitter
from tokenmeter.settings import Settings
from tokenmeter.storage.clickhouse import ClickHouse

log = logging.getLogger(__name__)


def build_api(emitter: UsageEmitter, db: ClickHouse) -> FastAPI:
    api = FastAPI(title="tokenmeter", version="1", description="Ingest LLM usage events; read metered usage.")
    api.include_router(ingest_router(emitter))
    api.include_router(usage_router(db))

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return api


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the worker process owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_api(settings: Settings, db: ClickHouse) -> None:
    """Run the API until cancelled (the worker stopping cancels it). If the port cannot be bound
    the error is logged and the worker goes on metering without the API."""
    async with UsageEmitter(settings.kafka, settings.stream.events_topic) as emitter:
        config = uvicorn.Config(build_api(emitter, db), host=settings.http.host, port=settings.http.api_port,
                                log_level="warning", lifespan="off", access_log=False)
        try:
            await _EmbeddedServer(config).serve()
        except SystemExit:  # uvicorn exits when it cannot bind; the meter must not
            log.error("HTTP API not started: cannot listen on %s:%d (TOKENMETER_HTTP_API_PORT)",
                      settings.http.host, settings.http.api_port)
