"""The REST API through DRF's client, against a real one-member store:
login and sessions with CSRF, API tokens and their scope, the whole
draft -> publish -> diff -> rollback -> audit flow, and one error shape
for every refusal."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from .api_support import login, node, session_client, token_client  # noqa: F401  (node is a fixture)

NS = "/api/v1/namespaces"


def error_of(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and body["message"], body
    return body


def test_login_me_logout_and_refusals(node):
    anonymous = APIClient()
    refused = anonymous.get(NS)
    error_of(refused, 401, "not_authenticated")
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    error_of(anonymous.post("/api/v1/auth/login", {"username": "admin", "password": "nope nope nope"},
                            format="json"), 401, "unauthenticated")

    client = APIClient(enforce_csrf_checks=True)
    csrf = login(client)
    me = client.get("/api/v1/auth/me").json()
    assert me["user"] == "admin" and me["administrator"] is True
    # A session's unsafe request without the CSRF token is refused, and changes nothing.
    error_of(client.post(NS, {"name": "shop/prod"}, format="json"), 403, "permission_denied")
    client.credentials(HTTP_X_CSRFTOKEN=csrf)
    assert client.post(NS, {"name": "shop/prod"}, format="json").status_code == 201
    assert client.post("/api/v1/auth/logout").status_code == 200
    error_of(client.get(NS), 401, "not_authenticated")


def test_repeated_bad_logins_are_slowed_with_a_retry_after(node):
    anonymous = APIClient()
    for _ in range(6):  # five free failures, and the sixth starts the wait
        error_of(anonymous.post("/api/v1/auth/login", {"username": "mallory", "password": "guess guess guess"},
                                format="json"), 401, "unauthenticated")
    slowed = anonymous.post("/api/v1/auth/login", {"username": "mallory", "password": "guess guess guess"},
                            format="json")
    body = error_of(slowed, 429, "too_many_attempts")
    assert int(slowed.headers["Retry-After"]) == body["details"]["retry_after"] > 0
    # Another user name is not held up by mallory's failures.
    error_of(anonymous.post("/api/v1/auth/login", {"username": "admin", "password": "nope nope nope"},
                            format="json"), 401, "unauthenticated")


def test_draft_publish_diff_rollback_and_audit(node):
    admin = session_client()
    created = admin.post(NS, {"name": "shop/prod", "description": "Shop", "format": "yaml"}, format="json")
    assert created.status_code == 201 and created.headers["ETag"] == f'"{created.json()["revision"]}"'
    item = f"{NS}/shop/prod/-/items/app.yaml"

    saved = admin.put(item, {"content": "db:\n  port: 5432\n", "comment": "first"}, format="json")
    assert saved.status_code == 200, saved.content
    etag = saved.headers["ETag"]
    # A second edit based on the same ETag after a newer save: 409, with the diff.
    admin.put(item, {"content": "db:\n  port: 6432\n"}, format="json", HTTP_IF_MATCH=etag)
    conflict = error_of(admin.put(item, {"content": "db:\n  port: 7432\n"}, format="json", HTTP_IF_MATCH=etag),
                        409, "conflict")
    assert "-  port: 6432\n+  port: 7432" in conflict["details"]["diff"]
    bad = error_of(admin.put(f"{NS}/shop/prod/-/items/broken.json", {"content": '{"a": [1,}', "format": "json"},
                             format="json"), 400, "invalid_content")
    assert (bad["details"]["line"], bad["details"]["column"]) == (1, 10)

    changes = admin.get(f"{NS}/shop/prod/-/changes").json()
    assert [c["op"] for c in changes["changes"]] == ["added"]
    assert admin.get(f"{NS}/shop/prod/-/config").json()["items"] == {}
    stale = created.json()["revision"]
    error_of(admin.post(f"{NS}/shop/prod/-/publish", {"comment": "go", "revision": stale}, format="json"),
             409, "conflict")
    published = admin.post(f"{NS}/shop/prod/-/publish", {"comment": "go", "revision": changes["revision"]},
                           format="json")
    assert published.status_code == 201 and published.json()["seq"] == 1
    live = admin.get(f"{NS}/shop/prod/-/config").json()
    assert live["items"]["app.yaml"]["content"] == "db:\n  port: 6432\n" and live["release"] == 1

    current = admin.get(item, {"view": "draft"}).headers["ETag"]
    admin.put(item, {"content": "db:\n  port: 9999\n"}, format="json", HTTP_IF_MATCH=current)
    revision = admin.get(f"{NS}/shop/prod").json()["revision"]
    admin.post(f"{NS}/shop/prod/-/publish", {"revision": revision}, format="json")
    diff = admin.get(f"{NS}/shop/prod/-/diff", {"from": "1", "to": "2"}).json()
    assert diff["changes"][0]["structural"] == [{"op": "changed", "path": "$.db.port", "old": 6432, "new": 9999}]

    revision = admin.get(f"{NS}/shop/prod").json()["revision"]
    rolled = admin.post(f"{NS}/shop/prod/-/rollback", {"release": 1, "comment": "oops", "revision": revision},
                        format="json")
    assert rolled.status_code == 201 and rolled.json()["rollback_of"] == 1
    assert admin.get(f"{NS}/shop/prod/-/config").json()["items"]["app.yaml"]["content"] == "db:\n  port: 6432\n"
    releases = admin.get(f"{NS}/shop/prod/-/releases").json()["results"]
    assert [(r["seq"], r["kind"]) for r in releases] == [(3, "rollback"), (2, "publish"), (1, "publish")]
    assert admin.get(f"{NS}/shop/prod/-/releases/1").json()["items"]["app.yaml"]["content"] == "db:\n  port: 6432\n"
    error_of(admin.get(f"{NS}/shop/prod/-/releases/9"), 404, "not_found")

    audit = admin.get(f"{NS}/shop/prod/-/audit", {"limit": 3}).json()
    assert [e["action"] for e in audit["results"]] == ["release.rollback", "release.publish", "draft.save"]
    assert audit["results"][0]["address"] == "127.0.0.1" and audit["next"]
    older = admin.get(f"{NS}/shop/prod/-/audit", {"limit": 3, "cursor": audit["next"]}).json()
    assert [e["action"] for e in older["results"]] == ["release.publish", "draft.save", "draft.save"]
    verified = admin.get("/api/v1/audit/verify", {"chain": "shop/prod"}).json()
    assert verified["ok"] is True and verified["entries"] == 7


def test_schema_violations_are_listed_by_path(node):
    admin = session_client()
    schema = {"type": "object", "properties": {"port": {"type": "integer"}}, "required": ["port"]}
    admin.post(NS, {"name": "db/prod", "schema": schema}, format="json")
    admin.put(f"{NS}/db/prod/-/items/db.yaml", {"content": "port: many\n"}, format="json")
    revision = admin.get(f"{NS}/db/prod").json()["revision"]
    body = error_of(admin.post(f"{NS}/db/prod/-/publish", {"revision": revision}, format="json"),
                    400, "schema_violation")
    assert body["details"]["items"]["db.yaml"][0]["path"] == "$.port"
    error_of(admin.post(NS, {"name": "bad/schema", "schema": {"type": 5}}, format="json"), 400, "invalid")


def test_tokens_are_shown_once_scoped_and_revocable(node):
    admin = session_client()
    for name in ("a/prod", "b/prod"):
        admin.post(NS, {"name": name}, format="json")
    reader = admin.post("/api/v1/tokens", {"name": "app", "namespaces": "a/*", "access": "read"}, format="json")
    assert reader.status_code == 201
    secret = reader.json()["token"]
    listed = admin.get("/api/v1/tokens", {"limit": "10"}).json()["results"]
    assert [t["id"] for t in listed] == [reader.json()["id"]] and "token" not in listed[0]

    app = token_client(secret)
    assert app.get(f"{NS}/a/prod/-/config").status_code == 200
    error_of(app.put(f"{NS}/a/prod/-/items/x", {"content": "1", "format": "text"}, format="json"), 403, "forbidden")
    error_of(app.get(f"{NS}/b/prod/-/config"), 403, "forbidden")
    assert [n["name"] for n in app.get(NS).json()["results"]] == ["a/prod"]

    assert admin.delete(f"/api/v1/tokens/{reader.json()['id']}").status_code == 200
    error_of(app.get(f"{NS}/a/prod/-/config"), 401, "authentication_failed")
    error_of(token_client("cct_000000000000_" + "x" * 43).get(NS), 401, "authentication_failed")


def test_users_and_roles(node):
    admin = session_client()
    admin.post(NS, {"name": "shop/prod"}, format="json")
    created = admin.post("/api/v1/users", {"name": "vera", "password": "vera's password",
                                           "grants": [{"role": "viewer", "namespaces": "shop/*"}]}, format="json")
    assert created.status_code == 201 and "password" not in created.json()
    error_of(admin.post("/api/v1/users", {"name": "Bad Name", "password": "long enough pw"}, format="json"),
             400, "invalid")
    vera = session_client("vera", "vera's password")
    assert vera.get(f"{NS}/shop/prod").status_code == 200
    error_of(vera.post(NS, {"name": "shop/dev"}, format="json"), 403, "forbidden")
    error_of(vera.get("/api/v1/users"), 403, "forbidden")
    assert vera.patch("/api/v1/users/vera", {"password": "a new password"}, format="json").status_code == 200
    session_client("vera", "a new password")
    assert admin.delete("/api/v1/users/vera").status_code == 204
    error_of(vera.get(f"{NS}/shop/prod"), 401, "authentication_failed")


def test_bad_requests_get_the_same_error_shape(node):
    admin = session_client()
    error_of(admin.get(f"{NS}/nope"), 404, "not_found")
    error_of(admin.generic("POST", NS, "{not json", content_type="application/json"), 400, "parse_error")
    error_of(admin.post(NS, ["a", "list"], format="json"), 400, "invalid")
    error_of(admin.get(NS, {"limit": "many"}), 400, "invalid")
    error_of(admin.put(f"{NS}/missing/-/items/a", {"content": "x"}, format="json"), 404, "not_found")
    error_of(admin.get(f"{NS}/shop/-/diff", {"from": "x"}), 404, "not_found")
    error_of(admin.put(f"{NS}/x/-/items/a", {"content": "x"}, format="json", HTTP_IF_MATCH='"abc"'), 400, "invalid")


def test_openapi_schema_and_browsable_api(node):
    admin = session_client()
    schema = admin.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/namespaces/{ns}/-/publish" in paths and "/api/v1/tokens" in paths
    page = admin.get(NS, HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and b"<html" in page.content.lower()


@pytest.mark.parametrize("name", ["a/-/b", "UPPER"])
def test_namespace_names_the_router_cannot_take_are_not_found(node, name):
    admin = session_client()
    assert admin.get(f"{NS}/{name}").status_code == 404


def test_export_import_and_promote_over_the_api(node):
    admin = session_client()
    for name in ("web/staging", "web/prod"):
        admin.post(NS, {"name": name}, format="json")
    admin.put(f"{NS}/web/staging/-/items/site.yaml", {"content": "title: Hello\n"}, format="json")
    admin.put(f"{NS}/web/staging/-/items/api-key", {"content": "k-123", "format": "text", "secret": True},
              format="json")
    revision = admin.get(f"{NS}/web/staging").json()["revision"]
    admin.post(f"{NS}/web/staging/-/publish", {"revision": revision}, format="json")

    as_yaml = admin.get(f"{NS}/web/staging/-/export", {"as": "yaml"})
    assert as_yaml.status_code == 200 and as_yaml["Content-Type"].startswith("application/yaml")
    assert "kind: config_center/namespace" in as_yaml.content.decode()
    target = admin.get(f"{NS}/web/prod").json()["revision"]
    preview = admin.post(f"{NS}/web/prod/-/import", {"bundle_text": as_yaml.content.decode(), "revision": target},
                         format="json")
    assert preview.status_code == 200 and preview.json()["dry_run"] is True
    assert admin.get(f"{NS}/web/prod").json()["revision"] == target
    promoted = admin.post(f"{NS}/web/prod/-/promote", {"from": "web/staging", "dry_run": False, "revision": target},
                          format="json")
    assert promoted.status_code == 201
    assert sorted(c["name"] for c in promoted.json()["changes"]) == ["api-key", "site.yaml"]
    states = {i["name"]: (i["state"], i["secret"]) for i in admin.get(f"{NS}/web/prod/-/items").json()["items"]}
    assert states == {"api-key": ("added", True), "site.yaml": ("added", False)}
    first = admin.get(f"{NS}/web/prod/-/items", {"limit": "1"}).json()
    assert [i["name"] for i in first["items"]] == ["api-key"] and first["next"]
    second = admin.get(f"{NS}/web/prod/-/items", {"limit": "1", "cursor": first["next"]}).json()
    assert [i["name"] for i in second["items"]] == ["site.yaml"] and second["next"] is None
    error_of(admin.get(f"{NS}/web/prod/-/items", {"limit": "0"}), 400, "invalid")
    error_of(admin.post(f"{NS}/web/prod/-/import", {"bundle_text": "kind: [", "revision": target}, format="json"),
             400, "invalid")
    error_of(admin.post(f"{NS}/web/prod/-/promote", {"from": "web/staging", "dry_run": "no"}, format="json"),
             400, "invalid")
