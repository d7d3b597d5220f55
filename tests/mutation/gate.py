"""Apply a mutation to a copy of the tree and run the tests that must catch
it (``mutations``). Used by ``python -m tests.mutation`` and by the small
gate in the default test run (``test_gate``)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .mutations import Mutation

REPO = Path(__file__).resolve().parents[2]
# What a test run of the consensus code needs from the tree.
COPIED = ("consensus", "config_center", "config_center_client", "tests", "templates", "static", "manage.py",
          "pytest.ini")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", "test-artifacts")


@dataclass(frozen=True)
class Outcome:
    mutation: str
    selection: str
    caught: bool
    seconds: float
    detail: str  # the last lines of the run, or what went wrong
    summary: str = ""  # pytest's summary line ("3 failed, 197 passed in ...")


def copy_tree(target: Path) -> None:
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=IGNORED, symlinks=True)
        elif source.exists():
            shutil.copy2(source, target / name)


def apply(mutation: Mutation, tree: Path) -> None:
    path = tree / mutation.path
    text = path.read_text()
    count = text.count(mutation.old)
    if count != 1:
        raise AssertionError(f"mutation {mutation.name}: the text it replaces occurs {count} times in "
                             f"{mutation.path} (the code moved? update tests/mutation/mutations.py)")
    path.write_text(text.replace(mutation.old, mutation.new))


def run(mutation: Mutation, args: list[str], *, timeout: float = 900, stop_at_first: bool = True) -> Outcome:
    """Run pytest with ``args`` on a copy of the tree with ``mutation``
    applied; caught when the run fails (exit status 1)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"mutation-{mutation.name}-") as tmp:
        tree = Path(tmp)
        copy_tree(tree)
        apply(mutation, tree)
        argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
                *(["-x"] if stop_at_first else []), *args]
        try:
            done = subprocess.run(argv, cwd=tree, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Outcome(mutation.name, " ".join(args), False, time.monotonic() - started, "timed out")
    lines = (done.stdout + done.stderr).strip().splitlines()
    tail = "\n".join(lines[-3:])
    summary = next((line for line in reversed(lines) if re.search(r"\d+ (passed|failed)", line)), "")
    if done.returncode not in (0, 1):
        raise AssertionError(f"mutation {mutation.name}: pytest {' '.join(args)} could not run "
                             f"(exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return Outcome(mutation.name, " ".join(args), done.returncode == 1, time.monotonic() - started, tail, summary)


def sim_args(seeds: int) -> list[str]:
    return ["tests/sim", f"--seeds={seeds}"]


def failed_count(outcome: Outcome) -> int:
    """How many tests failed in a run (its summary line)."""
    found = re.search(r"(\d+) failed", outcome.summary)
    return int(found.group(1)) if found else 0
