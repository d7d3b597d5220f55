"""A real one-member store running on its own event-loop thread, with the
config service bound to it as a node binds it, for tests that drive the
REST API through DRF's ``APIClient`` (views run in the test's thread and
hand each service call to the store's loop, as under ASGI)."""
from __future__ import annotations

import asyncio
import os
import threading

import pytest
from rest_framework.test import APIClient

from config_center import service_host
from config_center.service import users
from config_center.service.secret_box import SecretBox

from .service_support import start_store, stop_store

ADMIN_PASSWORD = "admin password for tests"


class StoreThread:
    def __init__(self, data_dir) -> None:
        self.data_dir = data_dir
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="store-loop", daemon=True)
        self.task = None
        self.store = None

    def call(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> "StoreThread":
        self.thread.start()

        async def start():
            self.task, self.store = await start_store(self.data_dir)
            service = service_host.new_service(SecretBox(os.urandom(32)))
            service_host.bind(service, self.loop)
            await users.bootstrap_admin(service.ctx, password=ADMIN_PASSWORD)
            return service

        self.service = self.call(start())
        return self

    def __exit__(self, *exc) -> None:
        service_host.unbind()

        async def stop():
            try:
                await stop_store(self.task)
            except BaseException:
                pass

        self.call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def node(tmp_path, settings):
    # Cheap hashes: the API tests log in often. The node's default (PBKDF2)
    # is exercised by the end-to-end test against a real runnode process.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with StoreThread(tmp_path / "data") as running:
        yield running


def login(client: APIClient, username: str = "admin", password: str = ADMIN_PASSWORD) -> str:
    """Log ``client`` in (session cookie); the CSRF token to send back."""
    response = client.post("/api/v1/auth/login", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["csrf_token"]


def session_client(username: str = "admin", password: str = ADMIN_PASSWORD) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    token = login(client, username, password)
    client.credentials(HTTP_X_CSRFTOKEN=token)
    return client


def token_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client
