"""TokenmeterCallback.event_for on LiteLLM's logging payload: tenant choice, cache hits, ids. No broker needed."""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from types import SimpleNamespace
from typing import Any

import pytest

from tokenmeter.integrations.litellm import TokenmeterCallback
from tokenmeter.settings import KafkaSettings


def payload(**overrides: Any) -> dict[str, Any]:
    return {"standard_logging_object": {
        "id": "chatcmpl-1", "model": "gpt-4o-mini", "custom_llm_provider": "openai", "endTime": 1796316415.25,
        "prompt_tokens": 12, "completion_tokens": 3, "cache_hit": None, "end_user": None,
        "metadata": {"user_api_key_team_id": "acme", "user_api_key_hash": "h1", "user_api_key_team_alias": "Acme"},
        **overrides}}


@pytest.fixture
def callback() -> TokenmeterCallback:
    return TokenmeterCallback(KafkaSettings(), "usage.events")


def test_the_event_carries_the_call_id_team_and_usage(callback: TokenmeterCallback) -> None:
    usage = SimpleNamespace(usage={"prompt_tokens": 12, "completion_tokens": 3,
                                   "prompt_tokens_details": {"cached_tokens": 10}})
    event = callback.event_for(payload(), usage)
    assert event is not None
    assert (event.id, event.subject, event.source, event.time.isoformat()) == (
        "chatcmpl-1", "acme", "litellm", "2026-12-03T16:46:55.250000+00:00")
    assert (event.data.provider, event.data.model, event.data.api_key_id, event.data.project) == (
        "openai", "gpt-4o-mini", "h1", "Acme")
    assert event.token_counts() == (2, 10, 0, 3, 0, 0, 0, 0)


def test_without_a_usage_object_the_payload_counts_are_used(callback: TokenmeterCallback) -> None:
    event = callback.event_for(payload(), SimpleNamespace())
    assert event is not None and event.token_counts() == (12, 0, 0, 3, 0, 0, 0, 0)


def test_tenant_falls_back_to_the_end_user_then_the_fallback(callback: TokenmeterCallback) -> None:
    no_team = {"metadata": {}}
    assert callback.event_for(payload(**no_team, end_user="bob"), None).subject == "bob"  # type: ignore[union-attr]
    assert callback.event_for(payload(**no_team), None).subject == "unattributed"  # type: ignore[union-attr]
    chooser = TokenmeterCallback(KafkaSettings(), "t", tenant_of=lambda p: p["model"].split("-")[0])
    assert chooser.event_for(payload(), None).subject == "gpt"  # type: ignore[union-attr]


def test_cache_hits_are_not_metered_unless_asked(callback: TokenmeterCallback) -> None:
    assert callback.event_for(payload(cache_hit=True), None) is None
    metering = TokenmeterCallback(KafkaSettings(), "t", meter_cache_hits=True)
    assert metering.event_for(payload(cache_hit=True), None) is not None
