"""Transcript tests: each file in testdata/ is a scripted scenario with the
exact output it must produce (messages sent, entries persisted and applied,
the core's own log lines). ``pytest --rewrite`` regenerates the files; review
the diff before committing it."""
from pathlib import Path

import pytest

from .runner import run_transcript

TESTDATA = Path(__file__).parent / "testdata"


@pytest.mark.parametrize("path", sorted(TESTDATA.glob("*.txt")), ids=lambda p: p.stem)
def test_transcript(path, request):
    expected = path.read_text()
    actual = run_transcript(expected)
    if request.config.getoption("--rewrite"):
        path.write_text(actual)
        return
    assert actual == expected, f"transcript {path.name} differs; run pytest --rewrite and review the diff"


def test_runner_detects_a_changed_expectation():
    """A transcript whose recorded output is wrong must not pass."""
    script = "> add-nodes 1\n> campaign 1\nthis line is not what the core says\n"
    assert run_transcript(script) != script
