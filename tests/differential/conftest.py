"""Fixtures for the differential tests: a real etcd 3.4 per test module.

The etcd is started once per module (about 0.3 s) rather than once per seed:
each seed instead begins by resetting it (see ``differential.reset_etcd``), so
hundreds of seeds fit in the default run. If etcd is not installed the
fixture fails, with the command that installs it; it never skips, because
``scripts/setup.sh`` installs it.
"""
from __future__ import annotations

import pytest

from tests.differential.etcd import INSTALL_HINT, EtcdServer, GatewayClient, find_etcd


@pytest.fixture(scope="module")
def etcd_server():
    binary = find_etcd()
    if binary is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    server = EtcdServer(binary).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def etcd(etcd_server: EtcdServer):
    """A keep-alive JSON client of the module's etcd."""
    client: GatewayClient = etcd_server.client()
    try:
        yield client
    finally:
        client.close()
