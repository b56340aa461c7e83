"""The JSON Schemas of every file and message format users write, generated from the pydantic models.

schemas/ holds the checked-in copies (`make schema` regenerates them; a test
fails when one drifts from its model).
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel

from tokenmeter.events.models import UsageEvent
from tokenmeter.pricing.book import PriceBookFile
from tokenmeter.pricing.plans import PlansFile
from tokenmeter.settings import REPO_ROOT

BASE_ID = "https://tokenmeter.dev/schemas/"
CONTRACTS: dict[str, type[BaseModel]] = {
    "usage-event.v1": UsageEvent,
    "price-book.v1": PriceBookFile,
    "plans.v1": PlansFile,
}


OPENAPI = "openapi"  # the HTTP API's OpenAPI document, schemas/openapi.json
NAMES = (*CONTRACTS, OPENAPI)


def schema_of(name: str) -> dict[str, Any]:
    """Validation-mode schema: fields with defaults are optional, required ones are listed."""
    if name == OPENAPI:
        from tokenmeter.api.app import openapi_document

        return openapi_document()
    schema = CONTRACTS[name].model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"{BASE_ID}{name}.schema.json",
            **schema}


def render(name: str) -> bytes:
    """Stable bytes for the checked-in file: sorted keys, two-space indent, trailing newline."""
    return orjson.dumps(schema_of(name), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def checked_in(name: str) -> Any:
    return REPO_ROOT / "schemas" / ("openapi.json" if name == OPENAPI else f"{name}.schema.json")


OPERATIONS_README = REPO_ROOT / "deploy" / "README.md"
_BEGIN, _END = "<!-- metrics:begin -->\n", "<!-- metrics:end -->"


def operations_readme() -> str:
    """deploy/README.md with the metrics catalog table regenerated between its markers."""
    from tokenmeter.observability.metrics import catalog_markdown

    text = OPERATIONS_README.read_text()
    head, _, rest = text.partition(_BEGIN)
    _, _, tail = rest.partition(_END)
    return f"{head}{_BEGIN}{catalog_markdown()}{_END}{tail}"
