"""A new cluster with store auth on serves nothing open, not even in its
first moment (issue 16, defect 8): before its first leader has created
root and enabled auth, every request that would be served without a user
is answered 503 (retryable), from the very first connection the port
accepts. Before the fix the first anonymous put answered 200 and stored
the key."""
from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from consensus.auth.authorizer import StoreAuthorizer
from consensus.auth.api import AuthNotReadyError
from consensus.auth.auth_state import AuthState
from tests.test_skeleton_runnode import free_port, runnode, start, stop


def _post(base: str, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_no_request_is_served_open_before_auth_is_set_up(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start(runnode("--data-dir", str(tmp_path / "data"), "--listen-client", f"127.0.0.1:{port}",
                            "--listen-peer", f"127.0.0.1:{free_port()}"))
    answers: list[tuple[str, int, dict]] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the first moment the port takes a connection
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.005)
        key = base64.b64encode(b"sneaky").decode()
        for n in range(400):
            for path, body in (("/v3/kv/put", {"key": key, "value": key}),
                               ("/v3/kv/range", {"key": base64.b64encode(b"\0").decode(), "range_end": "AA=="}),
                               ("/v3/auth/user/add", {"name": f"mallory{n}", "password": "x"})):
                status, answer = _post(base, path, body)
                answers.append((path, status, answer))
            if (tmp_path / "data" / "root-password").exists() and n > 5:
                break
        assert (tmp_path / "data" / "root-password").exists(), "auth was never set up"
        root = (tmp_path / "data" / "root-password").read_text().strip()
        token = _post(base, "/v3/auth/authenticate", {"name": "root", "password": root})[1]["token"]
        request = urllib.request.Request(base + "/v3/kv/range", data=json.dumps({"key": key}).encode(),
                                         method="POST", headers={"Authorization": token})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert "kvs" not in json.loads(response.read()), "an anonymous put was stored"
    finally:
        code, _, stderr = stop(process)
    assert code == 0, stderr
    served = [(path, status) for path, status, _ in answers if status == 200]
    assert not served, served
    early = [answer for _, status, answer in answers if status == 503]
    assert all("not set up yet" in answer.get("message", "") for answer in early), early[:3]
    assert {status for _, status, _ in answers} <= {503, 400, 401}, {s for _, s, _ in answers}


def test_the_authorizer_refuses_a_pristine_state_before_anything_else():
    class Machine:
        auth_state = AuthState()

    authorizer = StoreAuthorizer(Machine(), None)  # no token is ever verified
    for token in (None, "", "anything"):
        with pytest.raises(AuthNotReadyError):
            asyncio.run(authorizer.authenticate(token))
