"""The REST API of a real ``runnode`` process over HTTP: the first admin's
password is printed once and written 0600, it logs in (Django's default
hasher), and the session signed with the cluster-derived SECRET_KEY still
holds after the node restarts; an application reads its config with a token."""
from __future__ import annotations

import http.cookiejar
import json
import os
import stat
import time
import urllib.error
import urllib.request

from config_center.service_host import ADMIN_PASSWORD_FILE
from tests.node.test_runnode_member import serve
from tests.test_skeleton_runnode import stop


class Http:
    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.token = token
        self.csrf = None
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def __call__(self, method: str, path: str, body=None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        request.add_header("Referer", self.base + "/")
        if self.csrf:
            request.add_header("X-CSRFToken", self.csrf)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with self.opener.open(request, timeout=20) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


def test_first_admin_session_and_token_over_http(tmp_path):
    process, base = serve(tmp_path)
    try:
        password_file = tmp_path / ADMIN_PASSWORD_FILE
        deadline = time.monotonic() + 10
        while not password_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stat.S_IMODE(os.stat(password_file).st_mode) == 0o600
        password = password_file.read_text().strip()

        admin = Http(base)
        assert admin("POST", "/api/v1/auth/login", {"username": "admin", "password": "wrong password"})[0] == 401
        status, me = admin("POST", "/api/v1/auth/login", {"username": "admin", "password": password})
        assert status == 200 and me["administrator"]
        admin.csrf = me["csrf_token"]
        assert admin("POST", "/api/v1/namespaces", {"name": "web/prod"})[0] == 201
        status, token = admin("POST", "/api/v1/tokens", {"name": "web app", "namespaces": "web/*", "access": "write"})
        assert status == 201
    finally:
        code, _, stderr = stop(process)
    assert code == 0, stderr
    assert password not in stderr.split("created user admin", 1)[-1].split("\n", 1)[1], "printed only once"

    process, base = serve(tmp_path)
    try:
        # Same cluster secret, same SECRET_KEY: the session cookie is still good.
        admin.base = base
        status, me = admin("GET", "/api/v1/auth/me")
        assert status == 200 and me["user"] == "admin"
        app = Http(base, token=token["token"])
        status, saved = app("PUT", "/api/v1/namespaces/web/prod/-/items/site.json",
                            {"content": '{"title": "Hello"}', "format": "json"})
        assert status == 200, saved
        status, ns = app("GET", "/api/v1/namespaces/web/prod")
        assert app("POST", "/api/v1/namespaces/web/prod/-/publish", {"revision": ns["revision"]})[0] == 201
        status, config = app("GET", "/api/v1/namespaces/web/prod/-/config")
        assert status == 200 and config["items"]["site.json"]["content"] == '{"title": "Hello"}'
        # The applications' path (no Django): ETag and 304 while nothing changed.
        etag = f'"{config["revision"]}"'
        request = urllib.request.Request(base + "/api/v1/namespaces/web/prod/-/config", headers={
            "Authorization": f"Bearer {token['token']}", "If-None-Match": etag})
        try:
            urllib.request.urlopen(request, timeout=10)
            raise AssertionError("expected 304 Not Modified")
        except urllib.error.HTTPError as error:
            assert error.code == 304 and error.headers["ETag"] == etag
        assert Http(base, token="cct_000000000000_" + "x" * 43)("GET", "/api/v1/namespaces/web/prod/-/config")[0] == 401
        assert app("GET", "/api/v1/namespaces/web/nope/-/config")[0] == 404
        assert app("GET", "/api/v1/namespaces/other/-/config")[0] == 403
        status, session_view = admin("GET", "/api/v1/namespaces/web/prod/-/config")
        assert status == 200 and session_view == config, "the session (Django) path answers the same"
    finally:
        code, _, stderr = stop(process)
    assert code == 0, stderr
    assert "created user admin" not in stderr, "an existing cluster does not make a second admin"
