"""Real LiteLLM (pinned) with its mock responses -> TokenmeterCallback -> Kafka -> worker -> ClickHouse totals.

No provider is called: ``mock_response`` makes LiteLLM answer locally and run
its logging as for a real call, including the callback. The Anthropic call's
mock carries a full usage object (cache reads and writes, reasoning) so the
test shows those classes arriving intact.
"""

import asyncio
import os
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network: the price map bundled in the wheel
import litellm
from litellm.types.utils import CompletionTokensDetailsWrapper, PromptTokensDetailsWrapper, Usage

from tokenmeter.bench.harness import WorkerProcess, free_port, sql_rows, tokenmeter_env
from tokenmeter.events.models import TOKEN_CLASSES
from tokenmeter.integrations.litellm import TokenmeterCallback
from tokenmeter.settings import KafkaSettings, StreamSettings

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]
ASK = [{"role": "user", "content": "How many tokens is this?"}]


def anthropic_reply() -> litellm.ModelResponse:
    usage = Usage(prompt_tokens=1021, completion_tokens=393, total_tokens=1414,
                  prompt_tokens_details=PromptTokensDetailsWrapper(cached_tokens=800, cache_creation_tokens=200),
                  cache_creation_input_tokens=200, cache_read_input_tokens=800,
                  completion_tokens_details=CompletionTokensDetailsWrapper(reasoning_tokens=93))
    return litellm.ModelResponse(model="claude-sonnet-4-5", usage=usage,
                                 choices=[{"message": {"role": "assistant", "content": "About ten."}}])


async def test_litellm_calls_are_metered_exactly(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    namespace = f"ll{uuid.uuid4().hex[:8]}."
    env = tokenmeter_env(namespace=namespace, chdb_dir=tmp_path / "clickhouse", http_port=free_port(),
                         var_dir=tmp_path / "var", extra={"TOKENMETER_HTTP_API_PORT": "0"})
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    callback = TokenmeterCallback(kafka_settings, StreamSettings(namespace=namespace).events_topic, source="proxy-eu")
    saved = litellm.callbacks
    litellm.callbacks = [callback]
    try:
        await asyncio.to_thread(worker.wait_ready)
        for _ in range(3):  # mock usage: 10 prompt, 20 completion tokens each
            await litellm.acompletion(model="gpt-4o-mini", messages=ASK, mock_response="Ten.",
                                      metadata={"user_api_key_team_id": "acme", "user_api_key_hash": "k-1"})
        await asyncio.to_thread(litellm.completion, model="gpt-4o-mini", messages=ASK, mock_response="Ten.",
                                metadata={"user_api_key_team_id": "acme"})
        await litellm.acompletion(model="anthropic/claude-sonnet-4-5", messages=ASK, mock_response=anthropic_reply(),
                                  metadata={"user_api_key_team_id": "globex"})

        def totals() -> dict[tuple[str, str], dict[str, object]]:
            import orjson

            return {(d["tenant"], d["model"]): d for d in orjson.loads(worker.get("/v1/totals"))}

        def metered() -> bool:
            t = totals()
            return (("acme", "gpt-4o-mini") in t and int(t["acme", "gpt-4o-mini"]["output_tokens"]) == 80
                    and ("globex", "claude-sonnet-4-5") in t)

        await asyncio.to_thread(worker.wait_for, metered, 120, "the LiteLLM calls to be metered")
        await asyncio.sleep(2)  # a late duplicate from a second LiteLLM hook would show up by now
        got = totals()
    finally:
        litellm.callbacks = saved
        callback.close()
        stopped = worker.stop()
    assert stopped == 0, worker.tail()
    acme, globex = got["acme", "gpt-4o-mini"], got["globex", "claude-sonnet-4-5"]
    assert {c: int(acme[c]) for c in TOKEN_CLASSES if int(acme[c])} == {"input_tokens": 40, "output_tokens": 80}
    assert (int(acme["requests"]), acme["provider"]) == (4, "openai")
    assert {c: int(globex[c]) for c in TOKEN_CLASSES if int(globex[c])} == {
        "input_tokens": 21, "cached_input_tokens": 800, "cache_write_tokens": 200, "output_tokens": 300,
        "reasoning_tokens": 93}
    # gpt-4o-mini list price: $0.15 in, $0.60 out per 1M -> 40 * 0.15e-6 + 80 * 0.60e-6
    assert Decimal(str(acme["cost_total"])) == Decimal("0.000054")
    rows = sql_rows(env, "SELECT tenant, source, api_key_id, count() AS n FROM usage_events FINAL "
                         "GROUP BY tenant, source, api_key_id ORDER BY tenant, api_key_id")
    assert [(r["tenant"], r["source"], r["api_key_id"], int(r["n"])) for r in rows] == [
        ("acme", "proxy-eu", "k-1", 3), ("acme", "proxy-eu", None, 1), ("globex", "proxy-eu", None, 1)]
