"""The auth package's place in the layers (``consensus/auth/__init__``):
the replicated half is imported by the MVCC state machine, so it must stay
below it — deterministic, and free of the serving half; MVCC imports nothing
else of auth. Same ``ast`` scan as ``tests/test_layering.py``."""
from __future__ import annotations

import ast

import pytest

from tests.test_layering import REPO, Rule, _module_name, imported_modules

REPLICATED = ("api", "commands", "auth_state", "auth_store")
SERVING = ("permissions", "passwords", "tokens", "authorizer", "service", "json_messages", "routes", "bootstrap")

RULES = [
    *(
        Rule(
            f"consensus/auth/{name}.py",
            banned=(
                "asyncio", "django", "config_center", "time", "random", "secrets", "os", "threading",
                "consensus.node", "consensus.gateway", "consensus.transport", "consensus.mvcc.state_machine",
                "consensus.mvcc.replicated_store", "consensus.mvcc.json_codec",
                *(f"consensus.auth.{serving}" for serving in SERVING),
            ),
            why="the replicated auth state is applied by the state machine: deterministic (no clock, no "
            "randomness, no I/O of its own), and below the state machine and the serving half",
        )
        for name in REPLICATED
    ),
    Rule(
        "consensus/auth",
        banned=("django", "config_center", "consensus.gateway"),
        why="auth sits below the web edge: the gateway calls it, never the reverse",
    ),
    Rule(
        "consensus/mvcc",
        banned=("consensus.auth",),
        allowed=tuple(f"consensus.auth.{name}" for name in REPLICATED),
        why="the store applies the replicated auth state and knows nothing of tokens, passwords or routes",
    ),
]

CASES = [(rule, path) for rule in RULES for path in rule.files()]


@pytest.mark.parametrize(("rule", "path"), CASES, ids=[f"{rule.root}:{path.relative_to(REPO)}" for rule, path in CASES])
def test_auth_imports_point_downward(rule, path):
    module_name, is_package = _module_name(path)
    bad = [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for line, module in imported_modules(path.read_text(), module_name, is_package)
        if rule.violation(module)
    ]
    assert not bad, f"{rule.why}:\n" + "\n".join(bad)


def test_every_auth_module_is_classified():
    names = {path.stem for path in (REPO / "consensus/auth").glob("*.py")} - {"__init__"}
    assert names == set(REPLICATED) | set(SERVING)


def test_the_package_init_imports_nothing():
    tree = ast.parse((REPO / "consensus/auth/__init__.py").read_text())
    assert not [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
