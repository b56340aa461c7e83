"""The JSON Schema of event v1 (kept for callers of the first release; see tokenmeter.contracts)."""

from __future__ import annotations

from typing import Any

from tokenmeter.contracts import BASE_ID, render, schema_of

SCHEMA_ID = f"{BASE_ID}usage-event.v1.schema.json"


def usage_event_schema() -> dict[str, Any]:
    return schema_of("usage-event.v1")


def render_schema() -> bytes:
    return render("usage-event.v1")
