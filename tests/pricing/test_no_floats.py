"""Money never touches a float: no float literal, float() call or math/statistics import in rating code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tokenmeter.settings import REPO_ROOT

PKG = REPO_ROOT / "services" / "tokenmeter"
# Every module that computes or carries money, and the stream code that rates windows.
MONEY_MODULES = sorted([*(PKG / "pricing").glob("*.py"), PKG / "reconcile.py", PKG / "stream" / "messages.py",
                        PKG / "storage" / "rows.py"])


def offences(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            found.append(f"line {node.lineno}: float literal {node.value!r}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "float":
            found.append(f"line {node.lineno}: float() call")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            if any(n and n.split(".")[0] in ("math", "statistics", "numpy") for n in names):
                found.append(f"line {node.lineno}: imports {names}")
    return found


@pytest.mark.parametrize("path", MONEY_MODULES, ids=lambda p: str(p.relative_to(PKG)))
def test_money_code_has_no_floats(path: Path) -> None:
    assert offences(path) == []


def test_the_checker_catches_floats(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import math\nprice = 0.1\ncost = float('1.5')\n")
    assert offences(bad) == ["line 1: imports ['math']", "line 2: float literal 0.1", "line 3: float() call"]
