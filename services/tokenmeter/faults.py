"""Fault injection for the chaos suite: switches flipped from outside a process by creating files.

Off unless ``TOKENMETER_FAULTS_DIR`` is set; production never sets it. Each
switch stands for a failure the chaos suite cannot cause for real here:

- ``clickhouse-down``: while the file exists, every ClickHouse call fails as if
  the server were unreachable. The embedded engine lives inside the worker
  process, so there is no server to stop; this fails the same code path (the
  adapter raises ``StorageError``) that a refused connection would.
- ``kill-after-sink-insert``: one-shot. The sink SIGKILLs its own process right
  after a batch is stored and before its offsets are committed: the exact
  instant at which a crash makes the next owner write the batch again.
- ``meter-raises``: one-shot. The meter raises in the middle of a run, after its
  forwards and dead letters are acknowledged and before its table writes: the
  crash-only rule (stream/crash.py) must end the process with exit code 70, and
  the next worker must meter the run once.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Final

CLICKHOUSE_DOWN: Final = "clickhouse-down"
KILL_AFTER_SINK_INSERT: Final = "kill-after-sink-insert"
METER_RAISES: Final = "meter-raises"


class InjectedFault(RuntimeError):
    """Raised where a switch asks for an unexpected exception."""


class Faults:
    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def active(self, name: str) -> bool:
        return self.folder is not None and (self.folder / name).exists()

    def take(self, name: str) -> bool:
        """True once per creation of the switch file (it is removed)."""
        if self.folder is None:
            return False
        try:
            (self.folder / name).unlink()
        except FileNotFoundError:
            return False
        return True

    def kill_self_if(self, name: str) -> None:
        if self.take(name):
            os.kill(os.getpid(), signal.SIGKILL)


NO_FAULTS: Final = Faults(None)
