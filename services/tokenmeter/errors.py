"""The root of every error tokenmeter raises on purpose."""


class TokenmeterError(Exception):
    """Base class: catch this to handle any tokenmeter failure."""


class ConfigError(TokenmeterError):
    """Settings are missing or contradict each other; the message lists every problem."""
