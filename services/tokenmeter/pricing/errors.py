"""Pricing errors."""

from tokenmeter.errors import TokenmeterError


class PriceBookError(TokenmeterError):
    """A price book entry is invalid; the message names the model and the field."""
