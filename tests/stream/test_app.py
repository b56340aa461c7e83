"""How the meter is wired into Faust (no broker needed to build it)."""

from __future__ import annotations

from pathlib import Path

from tokenmeter.pricing.catalog import builtin_price_book
from tokenmeter.settings import Settings, StreamSettings
from tokenmeter.stream.app import build_app


def test_tables_write_and_recover_raw_bytes(tmp_path: Path) -> None:
    # A JSON serializer would recover window values as lists and crash the meter after a restart.
    app = build_app(Settings(stream=StreamSettings(var_dir=tmp_path)), db=None, prices=builtin_price_book(),
                    web=False)
    for name in ("seen", "windows"):
        table = app.tables[name]
        assert (table.key_serializer, table.value_serializer) == ("raw", "raw")
        assert table.changelog_topic.key_serializer in (None, "raw")
