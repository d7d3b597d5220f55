"""Page cursors cannot leave their listing (issue 15, part 1).

A cursor used to be a store key, and newest-first paging scanned from the
listing's prefix up to it: a viewer's token scoped to one namespace read
every user record (password hashes included) with a crafted one. Every
paginated listing of the REST API is tried here with cursors that name
store keys outside it, cursors of other listings, malformed cursors, and
positions before, inside and after its own range; ``records.scan`` is
tried with a start outside its prefix; the console's pages that take a
cursor are tried on a real node."""
from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request

import pytest

from config_center.service import cursors
from config_center.service_host import ADMIN_PASSWORD_FILE
from config_center.store import keys, records
from tests.node.test_runnode_member import serve
from tests.test_skeleton_runnode import stop

from .api_support import node, session_client, token_client  # noqa: F401  (node is a fixture)
from .service_support import with_service
from .test_api_on_a_node import Http

API = "/api/v1"
NS = f"{API}/namespaces"

# Store keys a crafted cursor could name: each lies outside every listing
# but the one it belongs to, and most hold what no viewer may read.
FOREIGN_KEYS = [
    keys.user("user0"), keys.user("admin"), keys.USERS, keys.audit_entry("b", 99), keys.audit_chain("b"),
    keys.item("b", "secret.yaml"), keys.release("b", 1), keys.head("b"), keys.namespace("zzz"), keys.ROOT,
    keys.token("zzz"), b"\0", b"\xff",
]


def raw_cursor(key: bytes) -> str:
    """A cursor as the old API made them: the store key, base64."""
    return base64.urlsafe_b64encode(key).decode()


def refused(response) -> dict:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "invalid" and "cursor" in body["message"], body
    assert b"pbkdf2" not in response.content and b"md5$" not in response.content
    return body


@pytest.fixture
def world(node):  # noqa: F811
    """Two namespaces with items, releases and audit entries, users, tokens
    and registered instances: every listing has at least two rows."""
    admin = session_client()
    for ns in ("a", "b"):
        assert admin.post(NS, {"name": ns, "four_eyes": False}, format="json").status_code == 201
        for name, content in (("one.yaml", "x: 1\n"), ("two.yaml", "y: 2\n"), ("secret.yaml", "pw: hunter2\n")):
            _save(admin, ns, name, content)
        for comment in ("first", "second"):
            revision = admin.get(f"{NS}/{ns}").json()["revision"]
            published = admin.post(f"{NS}/{ns}/-/publish", {"comment": comment, "revision": revision}, format="json")
            assert published.status_code == 201, published.content
            _save(admin, ns, "one.yaml", f"x: {comment}\n")
    for n in range(3):
        created = admin.post(f"{API}/users", {"name": f"user{n}", "password": "a long password here",
                                              "grants": [{"role": "viewer", "namespaces": "a"}]}, format="json")
        assert created.status_code == 201, created.content
    tokens = [admin.post(f"{API}/tokens", {"name": f"t{n}", "namespaces": "*", "access": "write"},
                         format="json").json()["token"] for n in range(2)]
    for service in ("a/api", "a/web"):
        for instance in ("i1", "i2"):
            registered = admin.put(f"{API}/services/{service}/-/instances/{instance}",
                                   {"address": "10.0.0.1", "port": 80, "ttl": 60}, format="json")
            assert registered.status_code == 201, registered.content
    viewer = token_client(_viewer_token())
    return {"admin": admin, "viewer": viewer, "tokens": tokens}


def _save(admin, ns: str, name: str, content: str) -> None:
    current = admin.get(f"{NS}/{ns}/-/items/{name}", {"view": "draft"})
    revision = current.json()["revision"] if current.status_code == 200 else None
    saved = admin.put(f"{NS}/{ns}/-/items/{name}", {"content": content, "revision": revision}, format="json")
    assert saved.status_code == 200, saved.content


def _viewer_token() -> str:
    user0 = session_client("user0", "a long password here")
    made = user0.post(f"{API}/tokens", {"name": "reader", "namespaces": "a", "access": "read"}, format="json")
    assert made.status_code == 201, made.content
    return made.json()["token"]


# Every paginated listing: its URL, the field its rows are in, and the name
# its cursors carry.
LISTINGS = {
    "namespaces": (NS, "results", cursors.NAMESPACES),
    "items of a": (f"{NS}/a/-/items", "items", "items:a"),
    "items of b": (f"{NS}/b/-/items", "items", "items:b"),
    "releases of a": (f"{NS}/a/-/releases", "results", "releases:a"),
    "releases of b": (f"{NS}/b/-/releases", "results", "releases:b"),
    "audit of a": (f"{NS}/a/-/audit", "results", "audit:a"),
    "audit of b": (f"{NS}/b/-/audit", "results", "audit:b"),
    "audit": (f"{API}/audit", "results", cursors.AUDIT),
    "users": (f"{API}/users", "results", cursors.USERS),
    "tokens": (f"{API}/tokens", "results", cursors.TOKENS),
    "services": (f"{API}/services", "results", cursors.SERVICES),
    "instances of a/api": (f"{API}/services/a/api/-/instances", "instances", "instances:a/api"),
    "instances of a/web": (f"{API}/services/a/web/-/instances", "instances", "instances:a/web"),
}


def test_the_reported_attack_gets_a_400_and_no_records(world):
    viewer = world["viewer"]
    assert viewer.get(f"{NS}/a/-/audit", {"limit": 5}).status_code == 200
    refused(viewer.get(f"{NS}/a/-/audit", {"limit": 5, "cursor": raw_cursor(b"/_config_center/config/user0")}))


@pytest.mark.parametrize("listing", sorted(LISTINGS))
def test_cursors_naming_store_keys_are_refused_by_every_listing(world, listing):
    url, _, _ = LISTINGS[listing]
    admin = world["admin"]
    for key in FOREIGN_KEYS:
        refused(admin.get(url, {"limit": 2, "cursor": raw_cursor(key)}))
    for junk in ("%%%", "not a cursor", base64.urlsafe_b64encode(b"[1,2,3]").decode(), "x" * 5000,
                 cursors.encode(LISTINGS[listing][2], {"key": "/_config_center/config/user0"}),
                 cursors.encode(LISTINGS[listing][2], ""), cursors.encode(LISTINGS[listing][2], -1),
                 cursors.encode(LISTINGS[listing][2], True)):
        refused(admin.get(url, {"limit": 2, "cursor": junk}))
    for limit in ("0", "-1", "x", "100000"):
        body = admin.get(url, {"limit": limit}).json()
        assert body["code"] == "invalid" and "limit" in body["message"], body


def test_a_cursor_works_only_on_the_listing_that_gave_it(world):
    admin = world["admin"]
    given = {}
    for name, (url, field, _) in LISTINGS.items():
        first = admin.get(url, {"limit": 1})
        assert first.status_code == 200, (name, first.content)
        assert len(first.json()[field]) == 1 and first.json()["next"], (name, first.json())
        given[name] = first.json()["next"]
        second = admin.get(url, {"limit": 1, "cursor": given[name]})
        assert second.status_code == 200 and second.json()[field] != first.json()[field], name
    for name, (url, _, _) in LISTINGS.items():
        for other, cursor in given.items():
            if other != name:
                refused(admin.get(url, {"limit": 1, "cursor": cursor}))


def test_pages_follow_each_other_to_the_end_without_repeats(world):
    admin = world["admin"]
    for name, (url, field, _) in LISTINGS.items():
        whole = admin.get(url, {"limit": 500 if "items" not in name and "instances" not in name else 1000}).json()
        assert whole["next"] is None, name
        seen, cursor = [], None
        while True:
            page = admin.get(url, {"limit": 1, **({"cursor": cursor} if cursor else {})}).json()
            seen += page[field]
            cursor = page["next"]
            if cursor is None:
                break
        assert seen == whole[field], name


def test_positions_before_inside_and_after_a_range(world):
    """Positions a caller forges inside a listing's own range page from
    there, as if the listing had given them out: they reach nothing the
    listing would not show anyway."""
    admin = world["admin"]
    entries = admin.get(f"{NS}/a/-/audit", {"limit": 500}).json()["results"]
    newest = entries[0]["seq"]

    def audit_from(seq):
        return admin.get(f"{NS}/a/-/audit", {"limit": 500, "cursor": cursors.encode("audit:a", seq)}).json()

    assert audit_from(0) == {"results": [], "next": None}  # before the first entry
    assert [e["seq"] for e in audit_from(3)["results"]] == [2, 1]  # inside
    assert audit_from(newest + 1000)["results"] == entries  # after the newest
    assert [r["seq"] for r in admin.get(f"{NS}/a/-/releases", {
        "cursor": cursors.encode("releases:a", 2)}).json()["results"]] == [1]
    every = admin.get(f"{API}/audit", {"limit": 500}).json()["results"]
    from_b = admin.get(f"{API}/audit", {"limit": 500, "cursor": cursors.encode(cursors.AUDIT, ["b", 10 ** 9])}).json()
    assert from_b["results"] and all(e["chain"] <= "b" for e in from_b["results"])
    assert from_b["results"] == [e for e in every if e["chain"] < "b" or e["chain"] == "b"]
    names = [n["name"] for n in admin.get(NS).json()["results"]]
    assert [n["name"] for n in admin.get(NS, {"cursor": cursors.encode(cursors.NAMESPACES, "!")}).json()[
        "results"]] == names
    assert admin.get(NS, {"cursor": cursors.encode(cursors.NAMESPACES, "\uffff")}).json() == {"results": [],
                                                                                             "next": None}
    users = admin.get(f"{API}/users", {"cursor": cursors.encode(cursors.USERS, "user0")}).json()["results"]
    assert [u["name"] for u in users] == ["user1", "user2"]
    assert all("password" not in u for u in users)


def test_a_viewer_pages_only_what_it_may_read(world):
    viewer = world["viewer"]
    refused(viewer.get(f"{NS}/a/-/audit", {"cursor": cursors.encode("audit:b", 5)}))
    error = viewer.get(f"{NS}/b/-/audit", {"cursor": cursors.encode("audit:b", 5)})
    assert error.status_code == 403
    listed = viewer.get(NS, {"cursor": cursors.encode(cursors.NAMESPACES, "!")}).json()["results"]
    assert [n["name"] for n in listed] == ["a"]
    assert viewer.get(f"{API}/audit", {"cursor": cursors.encode(cursors.AUDIT, ["a", 5])}).status_code == 403
    assert viewer.get(f"{API}/users", {"cursor": cursors.encode(cursors.USERS, "a")}).status_code == 403


def test_a_scan_never_starts_outside_its_prefix(tmp_path):
    async def body(ctx, store):
        await records.txn(ctx.client, [], [records.put(keys.user("u"), {"name": "u", "password": "hash"}),
                                           records.put(keys.audit_entry("a", 1), {"seq": 1})])
        for start in (keys.user("u"), keys.ROOT, b"", b"\xff", keys.AUDIT):
            if not start:
                continue
            for descending in (False, True):
                with pytest.raises(ValueError, match="outside"):
                    await records.scan(ctx.client, keys.audit_chain("a"), start_after=start, descending=descending)
        inside, _ = await records.scan(ctx.client, keys.audit_chain("a"), start_after=keys.audit_entry("a", 2),
                                       descending=True)
        assert [json.loads(kv.value)["seq"] for kv in inside] == [1]

    with_service(tmp_path, body)


def test_the_console_pages_refuse_cursors_they_did_not_give(tmp_path):
    """The console pages that take ``after`` / ``before`` pass it to the
    same listings: a crafted one is a 400 page that shows no record."""
    process, base = serve(tmp_path)
    try:
        password_file = tmp_path / ADMIN_PASSWORD_FILE
        deadline = time.monotonic() + 10
        while not password_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        admin = Http(base)
        status, me = admin("POST", "/api/v1/auth/login", {"username": "admin",
                                                         "password": password_file.read_text().strip()})
        assert status == 200
        admin.csrf = me["csrf_token"]
        assert admin("POST", "/api/v1/namespaces", {"name": "a", "four_eyes": False})[0] == 201

        def page(path: str) -> tuple[int, bytes]:
            try:
                with admin.opener.open(urllib.request.Request(base + path), timeout=20) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as error:
                return error.code, error.read()

        stolen = raw_cursor(b"/_config_center/config/user0")
        for path in ("/console/audit", "/console/ns/a/-/audit", "/console/namespaces", "/console/admin/users",
                     "/console/tokens"):
            assert page(path)[0] == 200, path
            for cursor in (stolen, "garbage", cursors.encode("audit:b", 3), cursors.encode(cursors.USERS, "")):
                status, body = page(f"{path}?after={cursor}")
                assert status == 400, (path, cursor, status)
                assert b"pbkdf2" not in body and b"password\"" not in body, path
        assert page("/console/ns/a/-/releases")[0] == 200
        for cursor in (stolen, "7", cursors.encode("releases:b", 3)):
            assert page(f"/console/ns/a/-/releases?before={cursor}")[0] == 400
    finally:
        code, _, stderr = stop(process)
    assert code == 0, stderr
