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


def _raw(base: str, method: str, path: str, body: bytes, headers: dict) -> tuple[int, dict]:
    request = urllib.request.Request(base + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


_VARYING = {"revision", "updated_at", "time", "created_at", "message", "lease", "registered_at", "service"}


def _same_shape(answer):
    status, body = answer
    if isinstance(body, dict):
        body = {k: ("…" if k in _VARYING else v) for k, v in body.items() if k != "details" or status != 409}
    return status, body


def test_token_fast_routes_answer_as_the_drf_views_do(tmp_path):
    """The same calls, once with a token (served without Django) and once
    with a session (DRF), on twin namespaces: same statuses, same bodies
    (revisions and times aside), same error codes."""
    process, base = serve(tmp_path)
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / ADMIN_PASSWORD_FILE).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        session = Http(base)
        _, me = session("POST", "/api/v1/auth/login",
                        {"username": "admin", "password": (tmp_path / ADMIN_PASSWORD_FILE).read_text().strip()})
        session.csrf = me["csrf_token"]
        for ns in ("twin/fast", "twin/drf"):
            assert session("POST", "/api/v1/namespaces", {"name": ns})[0] == 201
        token = session("POST", "/api/v1/tokens", {"name": "ci", "namespaces": "twin/*", "access": "write"})[1]["token"]

        def call(ns, method, path, body, headers=None, prefix=None):
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            common = {"Content-Type": "application/json", **(headers or {})}
            url = (prefix or f"/api/v1/namespaces/{ns}") + path
            if ns == "twin/fast":
                return _raw(base, method, url, raw, {**common, "Authorization": f"Bearer {token}"})
            return _raw(base, method, url, raw,
                        {**common, "X-CSRFToken": session.csrf, "Referer": base + "/", **_cookie_header(session)})

        answers = {}
        for ns in ("twin/fast", "twin/drf"):
            steps = [
                call(ns, "PUT", "/-/items/app.yaml", {"content": "a: 1\n", "comment": "first"}),
                call(ns, "PUT", "/-/items/app.yaml", {"content": "a: 2\n", "revision": 0}),
                call(ns, "PUT", "/-/items/bad.json", {"content": '{"a": }', "format": "json"}),
                call(ns, "PUT", "/-/items/x", b"{not json"),
                call(ns, "PUT", "/-/items/x", ["a", "list"]),
                call(ns, "PUT", "/-/items/x", {"content": "1", "format": "text"}, {"If-Match": '"abc"'}),
                call(ns, "PUT", "/-/items/Bad%20Name", {"content": "1"}),
                call(ns, "POST", "/-/publish", {"comment": "no revision"}),
            ]
            revision = session("GET", f"/api/v1/namespaces/{ns}")[1]["revision"]
            steps.append(call(ns, "POST", "/-/publish", {"comment": "go", "revision": revision}))
            steps.append(call(ns, "POST", "/-/publish", {"comment": "again", "revision": revision}))
            answers[ns] = [_same_shape(a) for a in steps]
        statuses = [a[0] for a in answers["twin/fast"]]
        assert statuses == [200, 409, 400, 400, 400, 400, 400, 400, 201, 409], statuses
        assert answers["twin/fast"] == answers["twin/drf"]

        # The registry's hot calls: register and keep alive.
        def registry(ns, method, path, body):
            return call(ns, method, path, body, prefix=f"/api/v1/services/{ns}/-/instances")

        for ns in ("twin/fast", "twin/drf"):
            registered = registry(ns, "PUT", "/web-1", {"address": "10.0.0.1", "port": 80, "ttl": 30})
            lease = registered[1]["lease"]
            steps = [
                registered,
                registry(ns, "POST", "/web-1/keepalive", {"lease": lease}),
                registry(ns, "POST", "/web-1/keepalive", {"lease": "seven"}),
                registry(ns, "POST", "/web-1/keepalive", {"lease": lease + 1}),
                registry(ns, "POST", "/web-2/keepalive", {"lease": lease}),
                registry(ns, "PUT", "/web-2", {"address": "10.0.0.2", "port": 99999}),
                registry(ns, "PUT", "/web-2", b"{not json"),
                registry(ns, "PUT", "/web-2", ["a", "list"]),
                registry(ns, "PUT", "/web%202", {"address": "10.0.0.2", "port": 80}),
            ]
            answers[ns] = [_same_shape(a) for a in steps]
        statuses = [a[0] for a in answers["twin/fast"]]
        assert statuses == [201, 200, 400, 404, 404, 400, 400, 400, 400], statuses
        assert answers["twin/fast"] == answers["twin/drf"]
    finally:
        code, _, stderr = stop(process)
    assert code == 0, stderr


def _cookie_header(client: Http) -> dict:
    for handler in client.opener.handlers:
        jar = getattr(handler, "cookiejar", None)
        if jar is not None:
            return {"Cookie": "; ".join(f"{c.name}={c.value}" for c in jar)}
    return {}


def test_the_fast_routes_take_the_token_calls_they_name_and_nothing_else():
    from config_center.api.fast_routes import FastRoutes

    routes = FastRoutes(None)

    def handler(method, path):
        found = routes._route({"method": method, "path": path})
        return found[0].__name__ if found else None

    assert handler("GET", "/api/v1/namespaces/shop/prod/-/config") == "_config"
    assert handler("PUT", "/api/v1/namespaces/shop/prod/-/items/app.yaml") == "_save_draft"
    assert handler("POST", "/api/v1/namespaces/shop/prod/-/publish") == "_publish"
    assert handler("PUT", "/api/v1/services/shop/api/-/instances/web-1") == "_register"
    assert handler("POST", "/api/v1/services/shop/api/-/instances/web-1/keepalive") == "_keepalive"
    for method, path in (("DELETE", "/api/v1/services/shop/api/-/instances/web-1"),
                         ("GET", "/api/v1/services/shop/api/-/instances"),
                         ("POST", "/api/v1/services/shop/api/-/instances/web-1"),
                         ("PUT", "/api/v1/services/shop/api/-/instances/web-1/keepalive"),
                         ("POST", "/api/v1/namespaces/shop/prod/-/rollback")):
        assert handler(method, path) is None, (method, path)
