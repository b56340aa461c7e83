"""``POST /v1/events``: CloudEvents over HTTP into the events topic, answered only after Kafka acknowledged.

Media types: ``application/cloudevents+json`` (one event, a JSON object) and
``application/cloudevents-batch+json`` (a JSON array of up to 1,000 events, of
any tenants). Anything else is 415. A body over 1 MiB is 413.

A batch is all-or-nothing: if any event is invalid, none is sent, and the 400
body lists every invalid event with its index, field and reason. (Partial
acceptance would make every client track which events of a batch got in; with
all-or-nothing, fixing and resending the batch is always right.)

202 means every event of the request is acknowledged by Kafka (acks=all,
idempotent producer). 503 with ``Retry-After`` means Kafka did not acknowledge
all of them within the deadline: some may have been written, so the client
resends the same events (same ids), which the meter deduplicates. An event is
never answered 202 unless it is in Kafka.

Who may send: an ``ingest`` key (for any tenant, or only the tenants it lists;
one event for another tenant refuses the whole request with 403) or an
``admin`` key. A ``tenant`` key is read-only (403).
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime, and their
# Annotated dependencies refer to local names that a deferred annotation could not resolve.

import asyncio
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tokenmeter.api.auth import AUTH_RESPONSES, Access, ApiError, may_ingest
from tokenmeter.api.keys import ApiKey
from tokenmeter.events.decode import decode_message
from tokenmeter.events.errors import Rejection
from tokenmeter.events.models import MAX_BATCH_EVENTS, MAX_MESSAGE_BYTES, UsageEvent
from tokenmeter.ingest.errors import EmitError
from tokenmeter.ingest.producer import UsageEmitter

SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
RETRY_AFTER_SECONDS = 5


class Accepted(BaseModel):
    accepted: int


def ingest_router(emitter: UsageEmitter, access: Access, *, ack_timeout_seconds: float = 30.0) -> APIRouter:
    router = APIRouter()
    Caller = Annotated[ApiKey, Depends(access.caller)]

    @router.post("/v1/events", status_code=202, response_model=Accepted, responses={
        400: {"description": "invalid events, each with index, field and reason; nothing was sent"},
        **AUTH_RESPONSES,
        403: {"description": "a tenant key, or an ingest key sending for a tenant it does not list"},
        413: {"description": "body over 1 MiB"}, 415: {"description": "not a CloudEvents JSON media type"},
        503: {"description": "Kafka did not acknowledge in time; resend (ids make it safe)"}},
        openapi_extra={"requestBody": {"required": True, "content": {
            SINGLE: {"schema": {"$ref": "#/components/schemas/UsageEvent"}},
            BATCH: {"schema": {"type": "array", "maxItems": MAX_BATCH_EVENTS,
                               "items": {"$ref": "#/components/schemas/UsageEvent"}}}}}})
    async def post_events(request: Request, key: Caller) -> JSONResponse:
        may_ingest(key, ())
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in (SINGLE, BATCH):
            return _error(415, "content-type", f"must be {SINGLE} or {BATCH}, got {media or 'none'!r}")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_MESSAGE_BYTES:
            return _error(413, "body", f"is {declared} bytes; limit {MAX_MESSAGE_BYTES}")
        body = await request.body()
        if len(body) > MAX_MESSAGE_BYTES:
            return _error(413, "body", f"is {len(body)} bytes; limit {MAX_MESSAGE_BYTES}")
        stripped = body.lstrip()
        if media == SINGLE and not stripped.startswith(b"{"):
            return _error(400, "body", f"{SINGLE} carries one JSON object; send arrays as {BATCH}")
        if media == BATCH and not stripped.startswith(b"["):
            return _error(400, "body", f"{BATCH} carries a JSON array of events")
        decoded = decode_message(body, None, keyed=False)
        refused = [(i, r) for i, r in decoded if isinstance(r, Rejection)]
        if refused:
            return JSONResponse(status_code=400, content={
                "error": {"field": "events",
                          "reason": f"{len(refused)} of {len(decoded)} events are invalid; none was accepted"},
                "events": [_problem(i, r, media == BATCH) for i, r in refused]})
        events = [e for _, e in decoded if isinstance(e, UsageEvent)]
        may_ingest(key, {e.subject for e in events})
        try:
            await asyncio.wait_for(_send(emitter, events), ack_timeout_seconds)
        except (EmitError, TimeoutError) as exc:
            return _error(503, "kafka", f"did not acknowledge the events: {exc or 'timed out'}; resend them "
                          "(same ids are safe)", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        return JSONResponse(status_code=202, content={"accepted": len(events)})

    return router


async def _send(emitter: UsageEmitter, events: list[UsageEvent]) -> None:
    """One Kafka record per tenant (a CloudEvents batch, keyed by tenant), all awaited together."""
    by_tenant: dict[str, list[UsageEvent]] = defaultdict(list)
    for event in events:
        by_tenant[event.subject].append(event)
    await asyncio.gather(*(emitter.emit_batch(batch[i:i + MAX_BATCH_EVENTS])
                           for batch in by_tenant.values() for i in range(0, len(batch), MAX_BATCH_EVENTS)))


def _problem(index: int, rejection: Rejection, batch: bool) -> dict[str, Any]:
    return {"index": index if batch else None, "id": rejection.event_id, "reason": rejection.reason,
            "errors": [{"field": f.field, "reason": f.reason} for f in rejection.errors]}


def _error(status: int, field: str, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return ApiError(status, field, reason, headers).response()
