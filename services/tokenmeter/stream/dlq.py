"""Dead-letter records: the refused event, where it came from, and why. Pure."""

from __future__ import annotations

import base64

import orjson

from tokenmeter.events.errors import Rejection


def dlq_message(rejection: Rejection, *, topic: str, partition: int, offset: int, now_ms: int) -> bytes:
    """A self-describing JSON record. The original bytes are kept verbatim when they
    are UTF-8 (``payload``) and base64-encoded otherwise (``payload_b64``)."""
    doc: dict[str, object] = {
        "reason": rejection.reason,
        "errors": [{"field": f.field, "reason": f.reason} for f in rejection.errors],
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "index": rejection.index,
        "event_id": rejection.event_id,
        "tenant": rejection.tenant,
        "dead_lettered_at_ms": now_ms,
    }
    try:
        doc["payload"] = rejection.raw.decode("utf-8")
    except UnicodeDecodeError:
        doc["payload_b64"] = base64.b64encode(rejection.raw).decode("ascii")
    return orjson.dumps(doc)
