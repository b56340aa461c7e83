from __future__ import annotations

import pytest

from tokenmeter.stream.windows import window_end, window_start


@pytest.mark.parametrize(
    ("t", "size", "start"),
    [(0, 60_000, 0), (59_999, 60_000, 0), (60_000, 60_000, 60_000), (1_793_872_812_345, 60_000, 1_793_872_800_000),
     (-1, 60_000, -60_000), (7, 1, 7)],
)
def test_window_start(t: int, size: int, start: int) -> None:
    assert window_start(t, size) == start
    assert start <= t < window_end(start, size)


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        window_start(5, 0)
