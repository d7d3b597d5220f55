"""The mutation gate: ``python -m tests.mutation`` applies each known-wrong
change of ``tests/mutation/mutations.py`` to a copy of the tree and shows
that the tests fail for it.

    python -m tests.mutation                  every mutation: its unit tests, then the simulation
    python -m tests.mutation --only NAME      one of them
    python -m tests.mutation --seeds 1000     seeds of the simulation per mutation (default 1000)
    python -m tests.mutation --count          run every seed, and report how many caught it

Exit status 1 when a mutation survives (no test failed for it)."""
from __future__ import annotations

import argparse
import sys

from .gate import failed_count, run, sim_args
from .mutations import MUTATIONS


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", help="run only this mutation (repeatable)")
    parser.add_argument("--seeds", type=int, default=1000, help="simulation seeds per mutation (default 1000)")
    parser.add_argument("--count", action="store_true", help="run every seed, report how many caught it")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    if args.only and len(chosen) != len(args.only):
        parser.error(f"unknown mutation; known: {', '.join(m.name for m in MUTATIONS)}")
    survivors = []
    for mutation in chosen:
        print(f"{mutation.name}: {mutation.rule}", flush=True)
        caught_by = []
        if mutation.tests:
            outcome = run(mutation, list(mutation.tests))
            print(f"  unit tests ({outcome.selection}): {'caught' if outcome.caught else 'MISSED'} "
                  f"in {outcome.seconds:.0f} s", flush=True)
            caught_by.append(outcome.caught)
        sim = run(mutation, sim_args(args.seeds), stop_at_first=not args.count)
        figure = f"{failed_count(sim)} of {args.seeds} seeds" if args.count else ("caught" if sim.caught else "MISSED")
        print(f"  simulation, {args.seeds} seeds: {figure} in {sim.seconds:.0f} s", flush=True)
        caught_by.append(sim.caught)
        if not any(caught_by):
            survivors.append(mutation.name)
    if survivors:
        print(f"SURVIVED (no test failed): {', '.join(survivors)}")
        return 1
    print(f"all {len(chosen)} mutations caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
