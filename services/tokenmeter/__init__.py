"""tokenmeter: usage metering and rating for LLM inference."""

__version__ = "0.1.0"
