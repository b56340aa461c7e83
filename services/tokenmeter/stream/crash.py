"""Crash-only failure handling for the meter's long-running loops.

Faust answers an exception in an agent by restarting the agent inside the same
process. A restarted agent starts without the records its predecessor held
unacknowledged, so the partition's commit can no longer move past them, and a
cause that lives in the process (stale metadata, a broken client) makes it fail
again: the worker looks healthy on /healthz and meters nothing. Exiting is the
one answer that is always safe here: every effect is replayed from the last
commit and the tables' changelogs (the same path as ``kill -9``), and the
process supervisor (systemd, Docker's ``restart:``, Kubernetes) starts a fresh
worker. Cancellation (a rebalance, a shutdown) is not a failure and passes.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

log = logging.getLogger(__name__)

EXIT_CRASHED: Final = 70  # EX_SOFTWARE in sysexits.h: an internal error


@contextmanager
def exit_on_crash(what: str) -> Iterator[None]:
    """Run the body; on an exception, log it and end the process with EXIT_CRASHED."""
    try:
        yield
    except Exception:
        log.critical("%s crashed; exiting so a fresh worker replays from the last commit", what, exc_info=True)
        logging.shutdown()
        sys.stderr.flush()
        # Not sys.exit: Faust's graceful stop is known to hang after a crash. Skipping it loses
        # nothing: what was not committed is redelivered, as after kill -9.
        os._exit(EXIT_CRASHED)
