"""Project-wide pytest options and markers.

- ``--seeds N``: how many seeds a seeded simulation runs (default 1000).
- ``--seed S``: replay one seed (the one a failing simulation printed).
- ``--soak``: also run tests marked ``@pytest.mark.soak`` (long runs).
- ``--rewrite``: regenerate transcript tests' expected output.

Node processes the tests start serve no gRPC API unless the test asks for
one: ``CONFIG_CENTER_LISTEN_GRPC`` is ``off`` for every process this
session starts, because the default (etcd's 127.0.0.1:2379) is one port,
and many nodes run at once here, a real etcd among them. Tests of the gRPC
API pass ``--listen-grpc`` with a port of their own.
"""

import os

import pytest

os.environ.setdefault("CONFIG_CENTER_LISTEN_GRPC", "off")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("config_center")
    group.addoption(
        "--seeds",
        type=int,
        default=1000,
        metavar="N",
        help="number of seeds each seeded simulation runs (default: 1000)",
    )
    group.addoption(
        "--seed",
        type=int,
        default=None,
        metavar="S",
        help="replay a single simulation seed, e.g. one printed by a failure",
    )
    group.addoption(
        "--rewrite",
        action="store_true",
        default=False,
        help="regenerate the expected output of transcript tests instead of comparing",
    )
    group.addoption(
        "--soak",
        action="store_true",
        default=False,
        help="also run long-running tests marked 'soak'",
    )


def pytest_configure(config: pytest.Config) -> None:
    seeds = config.getoption("--seeds")
    if seeds < 1:
        raise pytest.UsageError(f"--seeds must be at least 1, got {seeds}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak"):
        return
    skip_soak = pytest.mark.skip(reason="soak test: run with --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip_soak)
