"""The HTTP API application: ingest and query routers, and a server that runs inside a worker.

In embedded mode the process that owns the ClickHouse files (the worker with the
sink) must answer queries, so the API runs in that process's event loop as one
more task, on ``TOKENMETER_HTTP_API_PORT``. Signals stay with the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any, cast

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tokenmeter.api import keys
from tokenmeter.api.auth import Access, ApiError, Guard
from tokenmeter.api.billing import Catalog, billing_router, prices_router
from tokenmeter.api.ingest import ingest_router
from tokenmeter.api.keys import KeyRing
from tokenmeter.api.usage import usage_router
from tokenmeter.events.models import UsageEvent
from tokenmeter.ingest.producer import UsageEmitter
from tokenmeter.pricing.catalog import builtin_price_book, load_plans, load_price_book
from tokenmeter.settings import Settings, StreamSettings
from tokenmeter.storage.clickhouse import ClickHouse
from tokenmeter.storage.errors import StorageError

log = logging.getLogger(__name__)


DESCRIPTION = """Ingest LLM usage events; read metered usage, bills and prices.

Every /v1 route needs `Authorization: Bearer <key>` (create keys with `tokenmeter keys create`).
Errors answer `{"error": {"field": ..., "reason": ...}}`: 401 unknown key, 403 not allowed, 429 over rate.
"""


def build_api(emitter: UsageEmitter, db: ClickHouse, guard: Guard, catalog: Catalog, *,
              ack_timeout_seconds: float = 30.0) -> FastAPI:
    api = FastAPI(title="tokenmeter", version="1", description=DESCRIPTION)
    access = Access(guard)
    api.include_router(ingest_router(emitter, access, ack_timeout_seconds=ack_timeout_seconds))
    api.include_router(usage_router(db, access))
    api.include_router(billing_router(db, access, catalog))
    api.include_router(prices_router(access, catalog))
    install_error_handlers(api)
    api.openapi = lambda: _openapi(api)  # type: ignore[method-assign]

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @api.get("/readyz", responses={503: {"description": "ClickHouse does not answer"}})
    async def readyz() -> JSONResponse:
        """Readiness: ClickHouse answers a query within 2 s (the producer is started before serving)."""
        try:
            await asyncio.wait_for(db.aquery("SELECT 1"), 2.0)
        except (StorageError, TimeoutError) as exc:
            return JSONResponse(status_code=503, content={"status": "unready", "reason": str(exc) or "timeout"})
        return JSONResponse({"status": "ready"})

    return api


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of :func:`build_api` (routes only: nothing is connected)."""
    from pathlib import Path

    plans, default_plan = load_plans(None, None)
    catalog = Catalog(builtin_price_book(), plans, default_plan)
    api = build_api(cast(UsageEmitter, None), cast(ClickHouse, None),
                    Guard(KeyRing(Path("/nonexistent")), default_rate=1), catalog)
    return api.openapi()


class ErrorDetail(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    """Every 4xx and 503 body. ``errors`` lists every problem when there are several."""

    error: ErrorDetail
    errors: list[ErrorDetail] | None = None
    events: list[dict[str, Any]] | None = None


def _openapi(api: FastAPI) -> dict[str, Any]:
    """FastAPI's document, told the truth about errors: validation is 400 (not 422), bodies are ErrorBody."""
    if api.openapi_schema is None:
        doc = get_openapi(title=api.title, version=api.version, description=api.description, routes=api.routes)
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        event = UsageEvent.model_json_schema(mode="validation", ref_template="#/components/schemas/{model}")
        schemas.update(event.pop("$defs", {}))
        schemas["UsageEvent"] = event
        schemas.update({"ErrorDetail": ErrorDetail.model_json_schema(ref_template="#/components/schemas/{model}"),
                        "ErrorBody": ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")})
        schemas["ErrorBody"].pop("$defs", None)
        doc["components"]["securitySchemes"] = {"apiKey": {
            "type": "http", "scheme": "bearer", "description": "a key from `tokenmeter keys create`"}}
        body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        for path, item in doc["paths"].items():
            for op in item.values():
                if path.startswith("/v1/"):
                    op["security"] = [{"apiKey": []}]
                responses = op["responses"]
                if responses.pop("422", None) is not None:
                    responses.setdefault("400", {"description": "a parameter is invalid; the body names it"})
                for code, response in responses.items():
                    if code[0] in "45" and path.startswith("/v1/"):
                        response["content"] = body
        api.openapi_schema = doc
    return api.openapi_schema


def install_error_handlers(api: FastAPI) -> None:
    """Every 4xx/503 body is ``{"error": {"field": ..., "reason": ...}}``; FastAPI's 422 becomes that 400."""

    @api.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @api.exception_handler(StorageError)
    async def storage_down(_request: Request, exc: StorageError) -> JSONResponse:
        """ClickHouse unreachable: nothing is wrong with the request, so 503 and a time to retry."""
        log.warning("API read failed: %s", exc)
        return ApiError(503, "clickhouse", "usage storage is unavailable; retry shortly",
                        {"Retry-After": "5"}).response()

    @api.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()]
        return JSONResponse(status_code=400, content={"error": problems[0], "errors": problems})


def guard_for(settings: Settings) -> Guard:
    """The key checks of this process; fails at start-up if the key file is malformed."""
    keys.read(settings.api_keys_file)
    return Guard(KeyRing(settings.api_keys_file), default_rate=settings.http.api_rate_per_second)


def catalog_for(settings: StreamSettings) -> Catalog:
    plans, default_plan = load_plans(settings.plans, settings.default_plan)
    return Catalog(load_price_book(settings.price_book), plans, default_plan)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the worker process owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_api(settings: Settings, db: ClickHouse, *, standalone: bool = False) -> None:
    """Run the API until cancelled (inside a worker) or until SIGINT/SIGTERM (``standalone``).

    Inside a worker, a port that cannot be bound is logged and the worker goes on metering
    without the API; standalone, it is an error."""
    async with UsageEmitter(settings.kafka, settings.stream.events_topic) as emitter:
        api = build_api(emitter, db, guard_for(settings), catalog_for(settings.stream),
                        ack_timeout_seconds=settings.http.api_ack_timeout_seconds)
        config = uvicorn.Config(api, host=settings.http.host, port=settings.http.api_port,
                                log_level="warning", lifespan="off", access_log=False)
        if standalone:
            await uvicorn.Server(config).serve()
            return
        try:
            await _EmbeddedServer(config).serve()
        except SystemExit:  # uvicorn exits when it cannot bind; the meter must not
            log.error("HTTP API not started: cannot listen on %s:%d (TOKENMETER_HTTP_API_PORT)",
                      settings.http.host, settings.http.api_port)
