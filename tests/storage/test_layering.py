"""Architecture rules for the storage layer, checked with an ``ast`` scan:
it imports only the standard library, msgpack and the Raft core below it, and
``consensus/storage/fsync.py`` is the only module in the project that calls
fsync."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STORAGE = ROOT / "consensus" / "storage"
FSYNC_CALLS = {"fsync", "fdatasync", "sync_file_range"}


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def test_storage_imports_only_stdlib_msgpack_and_the_raft_core():
    allowed_third_party = {"msgpack"}
    for path in STORAGE.glob("*.py"):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names:
                assert top not in {"asyncio", "socket"}, f"{path.name} imports {module}"
                continue
            assert top in allowed_third_party or module.startswith("consensus.raft"), (
                f"{path.name} imports {module}: the storage layer may only depend on the raft core"
            )


def test_only_the_fsync_module_calls_fsync():
    offenders = []
    for directory in ("consensus", "config_center", "bench"):
        for path in (ROOT / directory).rglob("*.py"):
            if path == STORAGE / "fsync.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Attribute) and node.attr in FSYNC_CALLS:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.attr}")
    assert offenders == [], "fsync outside consensus/storage/fsync.py"
