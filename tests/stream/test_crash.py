"""The crash-only rule: an exception in a long-running loop ends the process with exit code 70."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from tokenmeter.stream.crash import EXIT_CRASHED, exit_on_crash

CRASHING = """
import asyncio, logging
from tokenmeter.stream.crash import exit_on_crash
logging.basicConfig(level=logging.INFO)
async def main():
    with exit_on_crash("the meter"):
        await asyncio.sleep(0)
        raise KeyError("no such window")
asyncio.run(main())
print("still running")
"""


def test_an_exception_exits_70_and_logs_what_crashed() -> None:
    done = subprocess.run([sys.executable, "-c", CRASHING], capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_CRASHED == 70
    assert "still running" not in done.stdout
    assert "the meter crashed; exiting so a fresh worker replays from the last commit" in done.stderr
    assert "KeyError: 'no such window'" in done.stderr


def test_cancellation_is_not_a_crash() -> None:
    # A rebalance or a shutdown cancels the loop: that must pass through untouched.
    async def cancelled() -> None:
        with exit_on_crash("the meter"):
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(cancelled())


def test_a_body_that_returns_returns() -> None:
    with exit_on_crash("the sink"):
        value = 41 + 1
    assert value == 42
