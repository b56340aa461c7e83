"""Golden tests: each provider's own SDK usage type -> the exact v1 token classes."""

from datetime import UTC, datetime

import pytest
from anthropic.types import CacheCreation, OutputTokensDetails
from anthropic.types import Usage as AnthropicUsage
from google.genai.types import GenerateContentResponseUsageMetadata, MediaModality, ModalityTokenCount
from openai.types import CompletionUsage
from openai.types.completion_usage import CompletionTokensDetails, PromptTokensDetails
from openai.types.responses import ResponseUsage
from openai.types.responses.response_usage import InputTokensDetails
from openai.types.responses.response_usage import OutputTokensDetails as RespOutputDetails

from tokenmeter.events.normalise import (
    TokenClasses,
    UsageShapeError,
    anthropic,
    anthropic_service_tier,
    gemini,
    litellm_usage,
    openai_chat,
    openai_responses,
    otel_genai,
    otel_model,
    usage_event,
)


def test_openai_chat_takes_cached_audio_and_image_out_of_prompt_and_reasoning_out_of_completion() -> None:
    usage = CompletionUsage(
        prompt_tokens=2006, completion_tokens=300, total_tokens=2306,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=1920, cache_write_tokens=0, audio_tokens=0),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=192, audio_tokens=0,
                                                          accepted_prediction_tokens=0, rejected_prediction_tokens=0))
    assert openai_chat(usage) == TokenClasses(input_tokens=86, cached_input_tokens=1920, output_tokens=108,
                                              reasoning_tokens=192)
    audio = CompletionUsage(prompt_tokens=120, completion_tokens=900, total_tokens=1020,
                            prompt_tokens_details=PromptTokensDetails(audio_tokens=100, image_tokens=5),
                            completion_tokens_details=CompletionTokensDetails(audio_tokens=850))
    assert openai_chat(audio) == TokenClasses(input_tokens=15, audio_input_tokens=100, image_input_tokens=5,
                                              output_tokens=50, audio_output_tokens=850)
    bare = CompletionUsage(prompt_tokens=9, completion_tokens=12, total_tokens=21)  # no details at all
    assert openai_chat(bare) == TokenClasses(input_tokens=9, output_tokens=12)


def test_openai_responses_usage() -> None:
    usage = ResponseUsage(input_tokens=328, input_tokens_details=InputTokensDetails(cached_tokens=256,
                                                                                    cache_write_tokens=0),
                          output_tokens=1052, output_tokens_details=RespOutputDetails(reasoning_tokens=1000),
                          total_tokens=1380)
    assert openai_responses(usage) == TokenClasses(input_tokens=72, cached_input_tokens=256, output_tokens=52,
                                                   reasoning_tokens=1000)
    writes = ResponseUsage(input_tokens=5000, input_tokens_details=InputTokensDetails(cached_tokens=0,
                                                                                     cache_write_tokens=4096),
                           output_tokens=10, output_tokens_details=RespOutputDetails(reasoning_tokens=0),
                           total_tokens=5010)
    assert openai_responses(writes) == TokenClasses(input_tokens=904, cache_write_tokens=4096, output_tokens=10)


def test_anthropic_cache_reads_and_writes_are_beside_input_and_thinking_inside_output() -> None:
    first = AnthropicUsage(input_tokens=21, cache_creation_input_tokens=188086, cache_read_input_tokens=0,
                           output_tokens=393, service_tier="standard",
                           cache_creation=CacheCreation(ephemeral_5m_input_tokens=188086, ephemeral_1h_input_tokens=0))
    assert anthropic(first) == TokenClasses(input_tokens=21, cache_write_tokens=188086, output_tokens=393)
    again = AnthropicUsage(input_tokens=21, cache_creation_input_tokens=0, cache_read_input_tokens=188086,
                           output_tokens=393, service_tier="priority",
                           output_tokens_details=OutputTokensDetails(thinking_tokens=120))
    assert anthropic(again) == TokenClasses(input_tokens=21, cached_input_tokens=188086, output_tokens=273,
                                            reasoning_tokens=120)
    assert (anthropic_service_tier(first), anthropic_service_tier(again)) == ("standard", "priority")
    only_split = {"input_tokens": 5, "output_tokens": 1,
                  "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 30}}
    assert anthropic(only_split) == TokenClasses(input_tokens=5, cache_write_tokens=130, output_tokens=1)


def test_gemini_thoughts_are_beside_candidates_and_cached_inside_prompt() -> None:
    usage = GenerateContentResponseUsageMetadata(prompt_token_count=1200, cached_content_token_count=1000,
                                                 candidates_token_count=80, thoughts_token_count=450,
                                                 total_token_count=1730)
    assert gemini(usage) == TokenClasses(input_tokens=200, cached_input_tokens=1000, output_tokens=80,
                                         reasoning_tokens=450)
    audio = GenerateContentResponseUsageMetadata(
        prompt_token_count=1200, cached_content_token_count=600, candidates_token_count=40,
        tool_use_prompt_token_count=25, total_token_count=1265,
        prompt_tokens_details=[ModalityTokenCount(modality=MediaModality.TEXT, token_count=300),
                               ModalityTokenCount(modality=MediaModality.AUDIO, token_count=900)],
        cache_tokens_details=[ModalityTokenCount(modality=MediaModality.AUDIO, token_count=600)])
    assert gemini(audio) == TokenClasses(input_tokens=325, cached_input_tokens=600, audio_input_tokens=300,
                                         output_tokens=40)
    rest_json = {"promptTokenCount": 1200, "cachedContentTokenCount": 1000, "candidatesTokenCount": 80,
                 "thoughtsTokenCount": 450, "totalTokenCount": 1730}
    assert gemini(rest_json) == gemini(usage)


def test_otel_genai_span_attributes() -> None:
    span = {"gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.response.model": "claude-sonnet-4-5-20250929", "gen_ai.usage.input_tokens": 188107,
            "gen_ai.usage.cache_creation.input_tokens": 188086, "gen_ai.usage.output_tokens": 393,
            "gen_ai.usage.reasoning.output_tokens": 93}
    assert otel_genai(span) == TokenClasses(input_tokens=21, cache_write_tokens=188086, output_tokens=300,
                                            reasoning_tokens=93)
    assert otel_model(span) == ("anthropic", "claude-sonnet-4-5-20250929")
    assert otel_model({"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o"}) == ("openai", "gpt-4o")


def test_one_request_reads_the_same_whichever_way_the_provider_reports_it() -> None:
    """1,000 prompt tokens of which 800 came from the cache, 50 generated: input means different things."""
    same = TokenClasses(input_tokens=200, cached_input_tokens=800, output_tokens=50)
    assert openai_chat(CompletionUsage(prompt_tokens=1000, completion_tokens=50, total_tokens=1050,
                                       prompt_tokens_details=PromptTokensDetails(cached_tokens=800))) == same
    assert openai_responses(ResponseUsage(
        input_tokens=1000, input_tokens_details=InputTokensDetails(cached_tokens=800, cache_write_tokens=0),
        output_tokens=50,
        output_tokens_details=RespOutputDetails(reasoning_tokens=0), total_tokens=1050)) == same
    assert anthropic(AnthropicUsage(input_tokens=200, cache_read_input_tokens=800, output_tokens=50)) == same
    assert gemini(GenerateContentResponseUsageMetadata(prompt_token_count=1000, cached_content_token_count=800,
                                                       candidates_token_count=50)) == same
    assert otel_genai({"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.cache_read.input_tokens": 800,
                       "gen_ai.usage.output_tokens": 50}) == same


@pytest.mark.parametrize(("normalise", "usage", "message"), [
    (openai_chat, {"prompt_tokens": 10, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 11}},
     r"prompt_tokens_details.cached_tokens \(11\) exceed prompt_tokens \(10\)"),
    (openai_responses, {"input_tokens": 5, "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 3}},
     r"output_tokens_details.reasoning_tokens \(3\) exceed output_tokens \(2\)"),
    (anthropic, {"input_tokens": -1, "output_tokens": 0}, "input_tokens: must be a non-negative integer, got -1"),
    (gemini, {"promptTokenCount": "12"}, "prompt_token_count: must be a non-negative integer, got '12'"),
    (otel_genai, {"gen_ai.usage.input_tokens": 3, "gen_ai.usage.cache_read.input_tokens": 4},
     r"gen_ai.usage.cache_read.input_tokens \(4\) exceed gen_ai.usage.input_tokens \(3\)"),
    (openai_chat, [1, 2], "usage must be an object, got list"),
])
def test_parts_that_do_not_add_up_are_refused_with_the_field(normalise: object, usage: object, message: str) -> None:
    with pytest.raises(UsageShapeError, match=message):
        normalise(usage)  # type: ignore[operator]


def test_a_normalised_usage_becomes_a_valid_v1_event() -> None:
    event = usage_event(id="req-1", tenant="acme", time=datetime(2026, 11, 5, 10, tzinfo=UTC), provider="anthropic",
                        model="claude-sonnet-4-5", tokens=TokenClasses(input_tokens=21, cache_write_tokens=188086,
                                                                       output_tokens=393),
                        source="gateway-eu", service_tier="priority", user=None)
    assert event.token_counts() == (21, 0, 188086, 393, 0, 0, 0, 0)
    assert (event.subject, event.data.service_tier, event.data.user) == ("acme", "priority", None)


def test_litellm_usage_reads_cache_writes_wherever_the_release_put_them() -> None:
    from litellm.types.utils import PromptTokensDetailsWrapper, Usage

    current = Usage(prompt_tokens=1021, completion_tokens=10, total_tokens=1031,
                    prompt_tokens_details=PromptTokensDetailsWrapper(cached_tokens=800, cache_creation_tokens=200))
    older = {"prompt_tokens": 1021, "completion_tokens": 10, "cache_creation_input_tokens": 200,
             "prompt_tokens_details": {"cached_tokens": 800}}
    want = TokenClasses(input_tokens=21, cached_input_tokens=800, cache_write_tokens=200, output_tokens=10)
    assert litellm_usage(current) == litellm_usage(older) == want
