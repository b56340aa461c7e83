"""The ``tokenmeter`` command: every process's composition root."""
