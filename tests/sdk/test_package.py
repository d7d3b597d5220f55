"""The SDK is a package of its own: it imports only the standard library,
``websockets`` and (lazily, inside a function) ``yaml`` — nothing of the
server or the tests — and importing it loads none of them."""
from __future__ import annotations

import ast
import subprocess
import sys
import sysconfig
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "config_center_client"
ALLOWED_THIRD_PARTY = {"websockets", "yaml"}


def test_imports_are_standard_library_or_websockets():
    stdlib = set(sys.stdlib_module_names)
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in stdlib or top in ALLOWED_THIRD_PARTY, f"{path.name} imports {name}"


def test_importing_loads_no_server_module_and_no_yaml():
    code = ("import sys, config_center_client; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('django', 'config_center', 'consensus', 'tests', 'yaml')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent, capture_output=True, text=True,
                         check=True, env={"PATH": sysconfig.get_path("scripts")})
    assert out.stdout.strip() == "[]"
