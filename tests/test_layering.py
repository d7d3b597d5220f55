"""Imports point downward only (STYLE.md, "Layers").

An ``ast`` scan of the source: no module is imported to find out. Imports inside
``if TYPE_CHECKING:`` are exempt, since they never run. Only files that exist are
scanned, so a layer that is not written yet simply has nothing to check.
"""

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Rule:
    """Files under ``root`` must not import any module in ``banned`` (or below it)."""

    root: str
    banned: tuple[str, ...]
    why: str
    # Modules under ``consensus`` that are allowed even though ``consensus`` is banned.
    allowed: tuple[str, ...] = ()

    def files(self) -> list[Path]:
        path = REPO / self.root
        if path.is_file():
            return [path]
        return sorted(path.rglob("*.py")) if path.is_dir() else []

    def violation(self, module: str) -> str | None:
        if any(_within(module, ok) for ok in self.allowed):
            return None
        return next((banned for banned in self.banned if _within(module, banned)), None)


RULES = (
    Rule(
        "consensus/raft",
        banned=(
            "asyncio", "django", "socket", "time", "os", "random", "threading",
            "config_center", "consensus",
        ),
        allowed=("consensus.raft",),
        why="the Raft core is a pure state machine: no I/O, clock, threads or global RNG "
        "(the RNG and the logger are passed in), and it imports nothing above itself",
    ),
    Rule(
        "consensus/storage",
        banned=("django", "config_center"),
        why="the WAL and snapshot files sit below the web edge and know nothing of Django",
    ),
    Rule(
        "consensus/transport",
        banned=("django", "config_center", "consensus", "os", "threading"),
        allowed=("consensus.raft", "consensus.transport"),
        why="the peer transport sits directly on the Raft core: no Django, storage, node or MVCC",
    ),
    Rule(
        "config_center/content",
        banned=("django", "rest_framework", "channels", "asyncio", "consensus", "config_center"),
        allowed=("config_center.content",),
        why="item content (formats, schema, diff) is pure functions: no store, no web, no I/O",
    ),
    Rule(
        "config_center/store",
        banned=("django", "rest_framework", "channels", "consensus", "config_center.service"),
        allowed=("consensus.mvcc.api", "consensus.mvcc.system_keys", "consensus.mvcc.json_codec", "consensus.member",
                 "consensus.mvcc.watcher"),
        why="the config service reaches the store through etcd's request types and its own client "
        "interface, never Raft or the state machine",
    ),
    Rule(
        "config_center/service",
        banned=("django", "rest_framework", "channels", "consensus"),
        allowed=("consensus.mvcc.api",),
        why="the service layer is written against the store client interface (config_center.store) "
        "and knows nothing of the web edge",
    ),
    Rule(
        "config_center/ws",
        banned=("consensus", "config_center.store", "rest_framework"),
        why="websocket consumers are an edge: they parse, authenticate and call the service layer",
    ),
    Rule(
        "config_center/console",
        banned=("consensus", "config_center.store", "rest_framework"),
        allowed=("consensus.cluster.status", "consensus.member"),
        why="console views are an edge over the service layer; the dashboard alone reads the cluster's status",
    ),
    Rule(
        "consensus/etcd_api",
        banned=("django", "config_center", "consensus.gateway", "consensus.grpc", "json", "grpc", "google"),
        why="etcd's request semantics are one layer under both codecs: it knows neither JSON, protobuf "
        "nor HTTP, so the two front ends cannot drift",
    ),
    Rule(
        "consensus/gateway",
        banned=("consensus.grpc", "grpc", "google", "django", "config_center"),
        why="the JSON gateway is a codec over the etcd API layer; it shares nothing with the gRPC codec",
    ),
    Rule(
        "consensus/grpc",
        banned=("consensus.gateway", "consensus.mvcc.json_codec", "json", "django", "config_center"),
        why="the gRPC servicers are a codec over the etcd API layer; they share nothing with the JSON gateway",
    ),
    Rule(
        "consensus/runtime/ready_steps.py",
        banned=("asyncio", "django", "socket", "time", "os", "threading", "config_center", "consensus"),
        allowed=("consensus.raft",),
        why="the Ready ordering rules are pure, so the runtime and the simulation follow the same ones",
    ),
    Rule(
        "consensus/node_config.py",
        banned=("django", "asyncio", "socket", "os", "config_center"),
        why="node configuration parsing is pure: the environment is passed in",
    ),
)


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def imported_modules(source: str, module_name: str, is_package: bool) -> list[tuple[int, str]]:
    """Every module an import statement in ``source`` may load, as (line, name).

    ``from a.b import c`` yields both ``a.b`` and ``a.b.c`` (``c`` may be a
    submodule); relative imports are resolved against ``module_name``.
    """
    package = module_name.split(".") if is_package else module_name.split(".")[:-1]
    found: list[tuple[int, str]] = []

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name != "TYPE_CHECKING":
                for child in node.body:
                    self.visit(child)
            for child in node.orelse:
                self.visit(child)

        def visit_Import(self, node: ast.Import) -> None:
            found.extend((node.lineno, alias.name) for alias in node.names)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                parts = base + (node.module.split(".") if node.module else [])
                target = ".".join(parts)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            found.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)

    Visitor().visit(ast.parse(source))
    return found


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


CASES = [(rule, path) for rule in RULES for path in rule.files()]


@pytest.mark.parametrize(
    ("rule", "path"), CASES, ids=[str(path.relative_to(REPO)) for _, path in CASES]
)
def test_imports_point_downward(rule, path):
    module_name, is_package = _module_name(path)
    bad = []
    for line, module in imported_modules(path.read_text(), module_name, is_package):
        banned = rule.violation(module)
        if banned:
            bad.append(f"{path.relative_to(REPO)}:{line} imports {module} ({banned} is banned)")
    assert not bad, f"{rule.why}:\n" + "\n".join(bad)


def test_the_raft_core_is_scanned():
    assert any(path.parent.name == "raft" for _, path in CASES), "consensus/raft has no .py files"


def test_scanner_finds_direct_relative_and_submodule_imports():
    source = "\n".join(
        [
            "import os.path",
            "from random import Random",
            "from .. import storage",
            "from ..transport.codec import encode",
            "from .messages import Entry",
            "if TYPE_CHECKING:",
            "    import asyncio",
            "else:",
            "    import time",
            "def late():",
            "    import threading",
        ]
    )
    modules = [name for _, name in imported_modules(source, "consensus.raft.core", False)]
    rule = RULES[0]
    violations = sorted({rule.violation(name) for name in modules} - {None})
    assert violations == ["consensus", "os", "random", "threading", "time"]
    assert "asyncio" not in modules
    assert rule.violation("consensus.raft.messages") is None
    assert rule.violation("consensus.raft.messages.Entry") is None
    assert rule.violation("ostrich") is None
