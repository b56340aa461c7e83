"""A LiteLLM callback that meters every successful call through tokenmeter.

    import litellm
    from tokenmeter.integrations.litellm import TokenmeterCallback

    litellm.callbacks = [TokenmeterCallback.from_env()]   # KAFKA_* and TOKENMETER_* settings

Or in the LiteLLM proxy's config: ``litellm_settings: {callbacks: my_module.meter}``
with ``meter = TokenmeterCallback.from_env()`` in ``my_module``.

What becomes an event, and the assumptions made (LiteLLM is not a runtime
dependency of tokenmeter: install it beside, this module imports it):

- ``id`` is LiteLLM's call id (``standard_logging_object.id``), so a callback
  that fires twice for one call (LiteLLM runs sync and async hooks for some
  paths) is counted once by the meter.
- The tenant is, in order: ``tenant_of(standard_logging_object)`` if given;
  the proxy key's team (``metadata.user_api_key_team_id``); the end user;
  else ``fallback_tenant`` (default ``unattributed``, logged once). Usage is
  never dropped for want of a tenant.
- Tokens come from the response's ``usage`` (LiteLLM's OpenAI-shaped
  ``Usage``, with cache reads and writes, reasoning and audio split out by
  :func:`tokenmeter.events.normalise.litellm_usage`). When a response has no
  usage object, the payload's ``prompt_tokens``/``completion_tokens`` are used.
- Calls answered from LiteLLM's own response cache (``cache_hit``) cost the
  provider nothing and are not metered unless ``meter_cache_hits=True``.
- The event time is the call's end time. ``api_key_id`` is the proxy key's
  hash, ``user`` its user id, ``project`` its team alias.
- Each event is awaited until Kafka acknowledges it (acks=all). If Kafka
  cannot take it, the error is logged at ERROR with the whole event as JSON,
  so it can be replayed; LiteLLM's response to the caller is not affected.
"""

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from tokenmeter.events.models import UsageEvent
from tokenmeter.events.normalise import TokenClasses, litellm_usage, usage_event
from tokenmeter.ingest.errors import EmitError
from tokenmeter.ingest.producer import SyncUsageEmitter
from tokenmeter.settings import KafkaSettings, StreamSettings

log = logging.getLogger(__name__)


class TokenmeterCallback(CustomLogger):
    def __init__(self, kafka: KafkaSettings, topic: str, *, source: str = "litellm",
                 tenant_of: Callable[[Mapping[str, Any]], str | None] | None = None,
                 fallback_tenant: str = "unattributed", meter_cache_hits: bool = False) -> None:
        super().__init__()
        self._kafka, self._topic = kafka, topic
        self.source = source
        self._tenant_of = tenant_of
        self.fallback_tenant = fallback_tenant
        self.meter_cache_hits = meter_cache_hits
        self._emitter: SyncUsageEmitter | None = None
        self._warned_fallback = False

    @classmethod
    def from_env(cls, **options: Any) -> "TokenmeterCallback":
        return cls(KafkaSettings(), StreamSettings().events_topic, **options)

    def event_for(self, kwargs: Mapping[str, Any], response_obj: Any) -> UsageEvent | None:
        """The v1 event of one successful LiteLLM call, or None for a cache hit not metered."""
        payload: Mapping[str, Any] = kwargs.get("standard_logging_object") or {}
        if not payload:
            raise ValueError("LiteLLM passed no standard_logging_object: too old a LiteLLM for this callback")
        if payload.get("cache_hit") and not self.meter_cache_hits:
            return None
        usage = getattr(response_obj, "usage", None)
        tokens = litellm_usage(usage) if usage is not None else TokenClasses(
            input_tokens=int(payload.get("prompt_tokens") or 0),
            output_tokens=int(payload.get("completion_tokens") or 0))
        meta: Mapping[str, Any] = payload.get("metadata") or {}
        return usage_event(
            id=str(payload["id"]), tenant=self._tenant(payload, meta),
            time=datetime.fromtimestamp(float(payload["endTime"]), UTC),
            provider=str(payload.get("custom_llm_provider") or "unknown"), model=str(payload["model"]),
            tokens=tokens, source=self.source, api_key_id=meta.get("user_api_key_hash") or None,
            user=meta.get("user_api_key_user_id") or None, project=meta.get("user_api_key_team_alias") or None)

    def _tenant(self, payload: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
        chosen = self._tenant_of(payload) if self._tenant_of else None
        chosen = chosen or meta.get("user_api_key_team_id") or payload.get("end_user")
        if chosen:
            return str(chosen)
        if not self._warned_fallback:
            log.warning("a LiteLLM call has no team or end user: metered as tenant %r", self.fallback_tenant)
            self._warned_fallback = True
        return self.fallback_tenant

    def _producer(self) -> SyncUsageEmitter:
        if self._emitter is None:  # started on first use: LiteLLM builds callbacks before any loop runs
            self._emitter = SyncUsageEmitter(self._kafka, self._topic)
        return self._emitter

    async def async_log_success_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        event = self.event_for(kwargs, response_obj)
        if event is not None:
            try:
                await self._producer().emit_from_loop(event)
            except EmitError as exc:
                _unsent(event, exc)

    def log_success_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any) -> None:
        event = self.event_for(kwargs, response_obj)
        if event is not None:
            try:
                self._producer().emit(event)
            except EmitError as exc:
                _unsent(event, exc)

    def close(self) -> None:
        """Flush and stop the producer (call at shutdown)."""
        if self._emitter is not None:
            self._emitter.close()
            self._emitter = None


def _unsent(event: UsageEvent, exc: Exception) -> None:
    log.error("tokenmeter could not send a usage event (%s); replay it: %s", exc, event.model_dump_json())
