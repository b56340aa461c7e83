"""Producer errors."""

from tokenmeter.errors import TokenmeterError


class EmitError(TokenmeterError):
    """Kafka did not acknowledge an event; it was NOT recorded and the caller must retry or fail."""
