"""Our store as a running node seen through its HTTP gateway, playing the
"ours" side of a differential run (``harness.Differential``).

The node lives for a whole test module, like the module's etcd, so it is
isolated per seed the same way etcd is (``harness`` module docstring):
``reset`` revokes every lease and deletes every key, then its revisions are
shifted so that it looks like a fresh store — revision 1, nothing compacted
— to the generator and the harness. ``NodeOverHttp`` is an ``EtcdSide``
whose offset maps that fresh view onto the node; the same ``GatewayClient``
that speaks to etcd speaks to it, and every answer is also checked to be
exactly what json_codec would write.

The reset deletes config_center's own records (``system_keys``) too: a
differential run needs a store with nothing in it, and a one-member test
node has no use for its record once it runs.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

from consensus.mvcc.api import CompactionRequest, RangeRequest
from tests.differential.etcd import GatewayClient
from tests.differential.harness import EtcdSide, Outcome
from tests.gateway.conftest import STORE_NODE_FLAGS
from tests.gateway.node_process import NodeProcess, running_node


class NodeOverHttp(EtcdSide):
    """A node behind its gateway, presented as a fresh store (module
    docstring). ``revision`` and ``compact_revision`` are in that fresh
    view, followed from the answers (a write's header revision, a
    compaction that succeeded)."""

    def __init__(self, client: GatewayClient) -> None:
        super().__init__(client)
        self.revision = 1
        self.compact_revision = 0

    def reset(self, our_revision: int = 1) -> int:
        offset = super().reset(1)
        self.revision, self.compact_revision = 1, 0
        return offset

    def execute(self, request: Any) -> Outcome:
        outcome = super().execute(request)
        if outcome.response is not None:
            header = getattr(outcome.response, "header", None)
            if header is not None and header.revision > self.revision:
                self.revision = header.revision
            if isinstance(request, CompactionRequest):
                self.compact_revision = max(self.compact_revision, request.revision)
        return outcome


def wait_until_quiet(client: GatewayClient, *, quiet_for: float = 0.5, timeout: float = 20.0) -> None:
    """Return once the node's revision has not moved for ``quiet_for``
    seconds: whatever it writes on its own at startup (its member record)
    is then behind it, not in the middle of a seed."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        revision = client.call(RangeRequest(key=b"\x00", range_end=b"\x00", count_only=True)).header.revision
        if revision != last:
            last, since = revision, time.monotonic()
        elif time.monotonic() - since >= quiet_for:
            return
        time.sleep(0.05)
    raise AssertionError(f"the node's revision kept moving for {timeout} s")


@contextlib.contextmanager
def node_on_tmpfs() -> Iterator[NodeProcess]:
    """A running node (``STORE_NODE_FLAGS``) with its data on tmpfs when
    there is one, like the etcd beside it: fsyncs are then free on both
    sides and a differential run is about the answers, not the disk. It has
    finished writing whatever it writes on its own at startup."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    data = Path(tempfile.mkdtemp(prefix="config-center-gateway-", dir=base))
    try:
        with running_node(data / "data", STORE_NODE_FLAGS) as node:
            client = GatewayClient(node.host, node.port)
            try:
                wait_until_quiet(client)
            finally:
                client.close()
            yield node
    finally:
        shutil.rmtree(data, ignore_errors=True)
