"""The admin tools' layering (STYLE.md: management commands are thin
wrappers around a function): ``consensus/admin`` knows nothing of Django,
and the ``member``, ``snapshot`` and ``status`` commands reach the store
only through ``consensus.admin`` (an ``ast`` scan, as tests/test_layering.py)."""
from __future__ import annotations

import io

import pytest

from consensus.admin.progress import ProgressBar
from tests.test_layering import REPO, Rule, imported_modules, _module_name

RULES = (
    Rule("consensus/admin", banned=("django", "config_center"),
         why="the admin functions are plain Python; only the commands are Django's"),
    *(
        Rule(f"consensus/management/commands/{name}.py", banned=("consensus", "config_center"),
             allowed=("consensus.admin", "consensus.node_config"),
             why="the admin commands parse, call one consensus.admin function and print")
        for name in ("member", "snapshot", "status")
    ),
)
CASES = [(rule, path) for rule in RULES for path in rule.files()]


@pytest.mark.parametrize(("rule", "path"), CASES, ids=[str(path.relative_to(REPO)) for _, path in CASES])
def test_admin_imports(rule, path):
    module_name, is_package = _module_name(path)
    bad = [f"{path.relative_to(REPO)}:{line} imports {module}"
           for line, module in imported_modules(path.read_text(), module_name, is_package) if rule.violation(module)]
    assert not bad, f"{rule.why}:\n" + "\n".join(bad)


def test_every_admin_file_is_scanned():
    assert len(CASES) >= 10


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_bar():
    out, clock = io.StringIO(), Clock()
    with ProgressBar(100 * 1024 * 1024, label="snapshot", stream=out, enabled=True, clock=clock) as bar:
        bar.update(25 * 1024 * 1024)
        bar.update(25 * 1024 * 1024)  # too soon to draw again
        clock.now = 1.0
        bar.update(50 * 1024 * 1024)
    frames = out.getvalue().split("\r")[1:]
    assert len(frames) == 3
    assert frames[0] == "snapshot [#######-----------------------]  25.0% 25.0 MiB / 100.0 MiB"
    assert frames[-1].startswith("snapshot [##############################] 100.0% 100.0 MiB") and frames[-1].endswith("\n")
    quiet = io.StringIO()  # not a terminal: nothing drawn unless forced
    with ProgressBar(10 ** 9, label="x", stream=quiet) as bar:
        bar.update(10 ** 9)
    assert quiet.getvalue() == ""
