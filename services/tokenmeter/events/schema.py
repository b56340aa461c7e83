"""The JSON Schema of event v1, generated from the pydantic models (schemas/ holds the checked-in copy)."""

from __future__ import annotations

from typing import Any

import orjson

from tokenmeter.events.models import UsageEvent

SCHEMA_ID = "https://tokenmeter.dev/schemas/usage-event.v1.schema.json"


def usage_event_schema() -> dict[str, Any]:
    """The schema as a dict; validation mode, so defaults are optional and required fields listed."""
    schema = UsageEvent.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def render_schema() -> bytes:
    """Stable bytes for the checked-in file: sorted keys, two-space indent, trailing newline."""
    return orjson.dumps(usage_event_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
