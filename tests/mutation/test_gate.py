"""The mutation gate, small form, in the default test run: every known-wrong
change of ``mutations`` makes its unit tests fail, and those the simulation
is known to catch make a short simulation run fail too. The whole gate
(``python -m tests.mutation --count``) runs the simulation for more seeds
and reports how many catch each mutation (README, "Testing")."""
from __future__ import annotations

import pytest

from .gate import run, sim_args
from .mutations import MUTATIONS


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_the_tests_fail_for_a_known_wrong_change(mutation):
    assert mutation.tests, f"{mutation.name} names no test that must catch it"
    outcome = run(mutation, list(mutation.tests), timeout=300)
    assert outcome.caught, f"{mutation.name} ({mutation.rule}) survived {outcome.selection}:\n{outcome.detail}"
    if mutation.sim_seeds:
        outcome = run(mutation, sim_args(mutation.sim_seeds), timeout=600)
        assert outcome.caught, (f"the simulation missed {mutation.name} ({mutation.rule}) in "
                                f"{mutation.sim_seeds} seeds:\n{outcome.detail}")
