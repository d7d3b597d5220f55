"""A real ``runnode`` process for the live-delivery tests, an administrator
session on it, and websocket helpers (the ``websockets`` library, as an
application would use it)."""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Iterator

from websockets.asyncio.client import connect

from tests.config.test_api_on_a_node import Http
from tests.gateway.conftest import STORE_NODE_FLAGS
from tests.gateway.node_process import running_node
from tests.test_skeleton_runnode import node_env


class LiveNode:
    def __init__(self, node) -> None:
        self.node = node
        self.admin = Http(node.base_url)
        password = (node.data_dir / "admin-password").read_text().strip()
        status, me = self.admin("POST", "/api/v1/auth/login", {"username": "admin", "password": password})
        assert status == 200, me
        self.admin.csrf = me["csrf_token"]
        self.revisions: dict[tuple[str, str], int] = {}

    @property
    def ws_url(self) -> str:
        return f"ws://{self.node.host}:{self.node.port}/ws/v1/config"

    def namespace(self, name: str, **settings) -> None:
        status, body = self.admin("POST", "/api/v1/namespaces", {"name": name, **settings})
        assert status == 201, body

    def token(self, namespaces: str = "*", access: str = "write") -> str:
        status, body = self.admin("POST", "/api/v1/tokens", {"name": f"t-{namespaces}-{access}",
                                                             "namespaces": namespaces, "access": access})
        assert status == 201, body
        return body["token"]

    def publish(self, ns: str, name: str, content: str, fmt: str = "yaml") -> dict:
        """Draft ``content`` for ``name`` and publish it; the release."""
        status, saved = self.admin("PUT", f"/api/v1/namespaces/{ns}/-/items/{name}",
                                   {"content": content, "format": fmt, "revision": self.revisions.get((ns, name), 0)})
        if status == 409:
            status, saved = self.admin("PUT", f"/api/v1/namespaces/{ns}/-/items/{name}",
                                       {"content": content, "format": fmt,
                                        "revision": saved["details"]["current_revision"]})
        assert status == 200, saved
        status, namespace = self.admin("GET", f"/api/v1/namespaces/{ns}")
        assert status == 200, namespace
        status, release = self.admin("POST", f"/api/v1/namespaces/{ns}/-/publish",
                                     {"comment": "test", "revision": namespace["revision"]})
        assert status in (200, 201), release
        self.revisions[(ns, name)] = release["revision"]
        return release


@contextlib.contextmanager
def live_node(data_dir: Path, **env) -> Iterator[LiveNode]:
    environment = node_env()
    environment.update({f"CONFIG_CENTER_{name.upper()}": str(value) for name, value in env.items()})
    with running_node(data_dir, STORE_NODE_FLAGS, env=environment) as node:
        yield LiveNode(node)


async def subscriber(url: str, token: str | None, **options):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await connect(url, additional_headers=headers, **options)


async def receive(ws, timeout: float = 10.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def receive_until(ws, kind: str, timeout: float = 10.0) -> dict:
    """The next message of type ``kind``, skipping progress and status."""
    while True:
        message = await receive(ws, timeout)
        if message["type"] == kind:
            return message
        assert message["type"] in ("progress", "status"), message


def cluster_admin(cluster) -> Http:
    """A logged-in admin session on whichever member of a
    ``tests.faults.cluster.ProcessCluster`` wrote the first admin's password."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for member in cluster.members:
            password_file = member.data_dir / "admin-password"
            if password_file.exists():
                admin = Http(f"http://127.0.0.1:{member.client_port}")
                status, me = admin("POST", "/api/v1/auth/login",
                                   {"username": "admin", "password": password_file.read_text().strip()})
                assert status == 200, me
                admin.csrf = me["csrf_token"]
                return admin
        time.sleep(0.2)
    raise AssertionError("no member wrote the first admin's password")
