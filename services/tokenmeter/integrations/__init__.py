"""Adapters that turn gateways' own usage records into v1 events (LiteLLM today)."""
