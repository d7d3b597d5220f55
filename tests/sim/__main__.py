"""Replay one simulation seed: ``python -m tests.sim --seed 42 [--nodes 5] [--trace]``."""
import argparse
import sys

from .cluster import Cluster, InvariantViolation, nodes_for, profile


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Replay a deterministic Raft simulation seed.")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--nodes", type=int, default=None, choices=(3, 5),
                        help="cluster size (default: the one the test suite gives the seed)")
    parser.add_argument("--trace", action="store_true", help="print every core log line as it happens")
    args = parser.parse_args(argv)
    if args.nodes is None:
        args.nodes = nodes_for(args.seed)
    cluster = Cluster(args.seed, profile(args.seed, args.nodes), echo=args.trace)
    try:
        cluster.run()
    except InvariantViolation as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"seed {args.seed} ({args.nodes} nodes): ok {dict(cluster.stats)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
