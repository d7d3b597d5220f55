"""Fixtures for the gateway tests: one real node per test module.

``STORE_NODE_FLAGS`` are the extra ``runnode`` flags every test node (here
and in ``tests/differential/test_*_over_http*``) is started with; this is
the one place to add one.
"""
from __future__ import annotations

import pytest

from tests.gateway.node_process import running_node

# These tests are about the wire format; auth has tests of its own
# (tests/auth, tests/gateway/test_store_auth.py).
STORE_NODE_FLAGS: list[str] = ["--store-auth", "off"]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A running one-member node (``node_process.NodeProcess``)."""
    with running_node(tmp_path_factory.mktemp("node") / "data", STORE_NODE_FLAGS) as running:
        yield running
