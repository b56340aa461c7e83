"""Tumbling-window arithmetic over integer epoch milliseconds. Pure."""

from __future__ import annotations


def window_start(time_ms: int, size_ms: int) -> int:
    """Start of the tumbling window of ``size_ms`` that contains ``time_ms``.

    Windows are aligned to the Unix epoch and half-open: [start, start + size).
    Works for negative times too (floor division).
    """
    if size_ms <= 0:
        raise ValueError(f"window size must be positive, got {size_ms} ms")
    return time_ms - time_ms % size_ms


def window_end(start_ms: int, size_ms: int) -> int:
    """Exclusive end of the window starting at ``start_ms``."""
    return start_ms + size_ms
