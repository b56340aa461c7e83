"""Provider usage objects -> the v1 token classes. Pure.

The v1 classes never overlap: ``input_tokens`` is the prompt NOT read from or
written to a cache and not audio or image; ``output_tokens`` is generation NOT
counted as reasoning or audio. Providers report overlapping totals instead,
and disagree on what "input" contains:

==========================  ===============================================  ====================================
provider object             input reported                                   output reported
==========================  ===============================================  ====================================
OpenAI chat                 ``prompt_tokens`` INCLUDES cache reads and       ``completion_tokens`` INCLUDES
                            writes, audio, image (``prompt_tokens_details``) reasoning, audio
OpenAI Responses            ``input_tokens`` INCLUDES cache reads and        ``output_tokens`` INCLUDES reasoning
                            writes (``input_tokens_details``)
Anthropic                   ``input_tokens`` EXCLUDES cache reads and        ``output_tokens`` INCLUDES thinking
                            cache writes (they are beside it)                (``output_tokens_details``)
Gemini                      ``prompt_token_count`` INCLUDES cached;          ``candidates_token_count`` EXCLUDES
                            tool-use prompt tokens are beside it             thoughts (beside it)
OpenTelemetry GenAI         ``gen_ai.usage.input_tokens`` INCLUDES cache     ``gen_ai.usage.output_tokens``
                            reads and cache writes                           INCLUDES reasoning
==========================  ===============================================  ====================================

So each normaliser subtracts what is inside and adds what is beside. A
breakdown larger than the total it is said to be part of is refused
(:class:`UsageShapeError` names the field), never clamped: clamping would
bill a guess.

Named assumptions:

- Reasoning tokens are split out everywhere a provider reports them; the
  price book bills ``reasoning_tokens`` at the output price when it lists no
  reasoning price, so the split never changes money.
- Anthropic's 5-minute and 1-hour cache writes (priced 1.25x and 2x input),
  and OpenAI's 30-minute and 12-hour ones, all go to ``cache_write_tokens``:
  v1 has one write class. Per-retention pricing needs a v2 class.
- Gemini image and video prompt tokens stay in ``input_tokens`` (Google prices
  them as text input); audio prompt tokens, priced apart, go to
  ``audio_input_tokens``.
- Objects can be the SDKs' own pydantic models or their JSON as dicts (Gemini's
  REST JSON is camelCase; both spellings are read).
"""

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from tokenmeter.errors import TokenmeterError
from tokenmeter.events.models import UsageEvent


class UsageShapeError(TokenmeterError):
    """A provider usage object whose parts do not add up; the message names the field."""


@dataclass(frozen=True, slots=True)
class TokenClasses:
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    audio_input_tokens: int = 0
    audio_output_tokens: int = 0
    image_input_tokens: int = 0

    def as_data(self) -> dict[str, int]:
        return asdict(self)


def _plain(obj: Any) -> dict[str, Any]:
    """An SDK model or a dict -> a dict with snake_case keys (nested values untouched)."""
    if obj is None:
        return {}
    if hasattr(obj, "model_dump"):
        obj = obj.model_dump()
    if not isinstance(obj, Mapping):
        raise UsageShapeError(f"usage must be an object, got {type(obj).__name__}")
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in obj.items()}


def _count(doc: Mapping[str, Any], name: str, where: str) -> int:
    value = doc.get(name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageShapeError(f"{where}{name}: must be a non-negative integer, got {value!r}")
    return value


def _part_of(total: int, total_name: str, parts: Mapping[str, int]) -> int:
    """``total`` minus ``parts``, refusing parts that exceed it."""
    rest = total - sum(parts.values())
    if rest < 0:
        named = " + ".join(f"{k} ({v})" for k, v in parts.items() if v)
        raise UsageShapeError(f"{named} exceed {total_name} ({total}) that should include them")
    return rest


def openai_chat(usage: Any) -> TokenClasses:
    """``CompletionUsage`` of the Chat Completions API (also LiteLLM's ``Usage``, which copies it)."""
    u = _plain(usage)
    prompt_d, completion_d = _plain(u.get("prompt_tokens_details")), _plain(u.get("completion_tokens_details"))
    cached = _count(prompt_d, "cached_tokens", "prompt_tokens_details.")
    written = _count(prompt_d, "cache_write_tokens", "prompt_tokens_details.")
    audio_in = _count(prompt_d, "audio_tokens", "prompt_tokens_details.")
    image_in = _count(prompt_d, "image_tokens", "prompt_tokens_details.")
    reasoning = _count(completion_d, "reasoning_tokens", "completion_tokens_details.")
    audio_out = _count(completion_d, "audio_tokens", "completion_tokens_details.")
    return TokenClasses(
        input_tokens=_part_of(_count(u, "prompt_tokens", ""), "prompt_tokens", {
            "prompt_tokens_details.cached_tokens": cached, "prompt_tokens_details.cache_write_tokens": written,
            "prompt_tokens_details.audio_tokens": audio_in, "prompt_tokens_details.image_tokens": image_in}),
        cached_input_tokens=cached, cache_write_tokens=written, audio_input_tokens=audio_in,
        image_input_tokens=image_in,
        output_tokens=_part_of(_count(u, "completion_tokens", ""), "completion_tokens", {
            "completion_tokens_details.reasoning_tokens": reasoning,
            "completion_tokens_details.audio_tokens": audio_out}),
        reasoning_tokens=reasoning, audio_output_tokens=audio_out)


def litellm_usage(usage: Any) -> TokenClasses:
    """LiteLLM's ``Usage``: OpenAI chat's shape for every provider, cache writes folded into ``prompt_tokens``.

    LiteLLM reports the writes as ``prompt_tokens_details.cache_write_tokens``;
    older releases only as ``cache_creation_tokens`` there or as the top-level
    ``cache_creation_input_tokens``. The first one present is used.
    """
    u = _plain(usage)
    details = _plain(u.get("prompt_tokens_details"))
    if not details.get("cache_write_tokens"):
        details["cache_write_tokens"] = details.get("cache_creation_tokens") or u.get("cache_creation_input_tokens")
    return openai_chat({**u, "prompt_tokens_details": details})


def openai_responses(usage: Any) -> TokenClasses:
    """``ResponseUsage`` of the Responses API."""
    u = _plain(usage)
    input_d = _plain(u.get("input_tokens_details"))
    cached = _count(input_d, "cached_tokens", "input_tokens_details.")
    written = _count(input_d, "cache_write_tokens", "input_tokens_details.")
    reasoning = _count(_plain(u.get("output_tokens_details")), "reasoning_tokens", "output_tokens_details.")
    return TokenClasses(
        input_tokens=_part_of(_count(u, "input_tokens", ""), "input_tokens", {
            "input_tokens_details.cached_tokens": cached, "input_tokens_details.cache_write_tokens": written}),
        cached_input_tokens=cached, cache_write_tokens=written,
        output_tokens=_part_of(_count(u, "output_tokens", ""), "output_tokens",
                               {"output_tokens_details.reasoning_tokens": reasoning}),
        reasoning_tokens=reasoning)


def anthropic(usage: Any) -> TokenClasses:
    """``anthropic.types.Usage`` (Messages API): cache reads and writes are beside ``input_tokens``."""
    u = _plain(usage)
    write = _count(u, "cache_creation_input_tokens", "")
    split = _plain(u.get("cache_creation"))
    if split and not u.get("cache_creation_input_tokens"):  # only the per-TTL breakdown was sent
        write = _count(split, "ephemeral_5m_input_tokens", "cache_creation.") + \
            _count(split, "ephemeral_1h_input_tokens", "cache_creation.")
    thinking = _count(_plain(u.get("output_tokens_details")), "thinking_tokens", "output_tokens_details.")
    return TokenClasses(
        input_tokens=_count(u, "input_tokens", ""), cached_input_tokens=_count(u, "cache_read_input_tokens", ""),
        cache_write_tokens=write,
        output_tokens=_part_of(_count(u, "output_tokens", ""), "output_tokens",
                               {"output_tokens_details.thinking_tokens": thinking}),
        reasoning_tokens=thinking)


def anthropic_service_tier(usage: Any) -> str:
    return str(_plain(usage).get("service_tier") or "standard")


def gemini(usage_metadata: Any) -> TokenClasses:
    """``GenerateContentResponseUsageMetadata``: thoughts are beside the candidates, cached inside the prompt."""
    u = _plain(usage_metadata)
    cached = _count(u, "cached_content_token_count", "")
    audio_prompt = _modality(u, "prompt_tokens_details", "AUDIO")
    audio_cached = _modality(u, "cache_tokens_details", "AUDIO")
    audio_in = _part_of(audio_prompt, "prompt_tokens_details[AUDIO]", {"cache_tokens_details[AUDIO]": audio_cached})
    prompt = _part_of(_count(u, "prompt_token_count", ""), "prompt_token_count", {
        "cached_content_token_count": cached, "prompt_tokens_details[AUDIO] not cached": audio_in})
    audio_out = _modality(u, "candidates_tokens_details", "AUDIO")
    return TokenClasses(
        input_tokens=prompt + _count(u, "tool_use_prompt_token_count", ""), cached_input_tokens=cached,
        audio_input_tokens=audio_in,
        output_tokens=_part_of(_count(u, "candidates_token_count", ""), "candidates_token_count",
                               {"candidates_tokens_details[AUDIO]": audio_out}),
        audio_output_tokens=audio_out, reasoning_tokens=_count(u, "thoughts_token_count", ""))


def _modality(u: Mapping[str, Any], field: str, modality: str) -> int:
    total = 0
    for i, item in enumerate(u.get(field) or []):
        d = _plain(item)
        if str(d.get("modality", "")).upper().removeprefix("MEDIAMODALITY.") == modality:
            total += _count(d, "token_count", f"{field}[{i}].")
    return total


OTEL = "gen_ai.usage."


def otel_genai(attributes: Mapping[str, Any]) -> TokenClasses:
    """OpenTelemetry GenAI span attributes: input includes cache reads and writes; output includes reasoning."""
    def count(name: str) -> int:
        return _count(attributes, OTEL + name, "")

    read, write, reasoning = count("cache_read.input_tokens"), count("cache_creation.input_tokens"), \
        count("reasoning.output_tokens")
    return TokenClasses(
        input_tokens=_part_of(count("input_tokens"), OTEL + "input_tokens", {
            OTEL + "cache_read.input_tokens": read, OTEL + "cache_creation.input_tokens": write}),
        cached_input_tokens=read, cache_write_tokens=write,
        output_tokens=_part_of(count("output_tokens"), OTEL + "output_tokens",
                               {OTEL + "reasoning.output_tokens": reasoning}),
        reasoning_tokens=reasoning)


def otel_model(attributes: Mapping[str, Any]) -> tuple[str, str]:
    """(provider, model) of a GenAI span: the response model if known, else the requested one."""
    provider = attributes.get("gen_ai.provider.name") or attributes.get("gen_ai.system")
    model = attributes.get("gen_ai.response.model") or attributes.get("gen_ai.request.model")
    if not provider or not model:
        raise UsageShapeError("a GenAI span needs gen_ai.provider.name (or gen_ai.system) and "
                              "gen_ai.response.model (or gen_ai.request.model)")
    return str(provider), str(model)


def usage_event(*, id: str, tenant: str, time: datetime, provider: str, model: str, tokens: TokenClasses,
                source: str, **dimensions: Any) -> UsageEvent:
    """A v1 event from normalised tokens. ``dimensions``: service_tier, batch, api_key_id, project, user, region."""
    return UsageEvent.model_validate({
        "specversion": "1.0", "type": "llm.usage", "id": id, "source": source, "subject": tenant, "time": time,
        "data": {"provider": provider, "model": model, **tokens.as_data(),
                 **{k: v for k, v in dimensions.items() if v is not None}}})
