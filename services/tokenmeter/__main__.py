"""``python -m tokenmeter`` is the ``tokenmeter`` command."""

from tokenmeter.cli.main import main

main()
