from __future__ import annotations

import pytest

from tokenmeter.contracts import NAMES, checked_in, render
from tokenmeter.events.schema import render_schema, usage_event_schema
from tokenmeter.settings import REPO_ROOT


def test_checked_in_schema_matches_models() -> None:
    path = REPO_ROOT / "schemas" / "usage-event.v1.schema.json"
    assert path.read_bytes() == render_schema(), "schema drifted from the models: run `make schema`"


def test_schema_requires_the_contract_fields() -> None:
    schema = usage_event_schema()
    assert sorted(schema["required"]) == ["data", "id", "source", "specversion", "subject", "time", "type"]
    data = schema["$defs"]["UsageData"]
    assert data["additionalProperties"] is False
    assert data["properties"]["input_tokens"]["minimum"] == 0


@pytest.mark.parametrize("name", sorted(NAMES))
def test_every_checked_in_contract_matches_its_model(name: str) -> None:
    assert checked_in(name).read_bytes() == render(name), f"{name} drifted from its model: run `make schema`"
