"""The service registry pages (instances appearing and disappearing live)
and the administration pages (users, API tokens), in a real Chromium
against a real node; what the pages did is checked through the REST API."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.config.test_api_on_a_node import Http

from .browser_support import log_in, screenshot

SERVICES = "/api/v1/services"


def rest_user(node, name: str) -> dict | None:
    status, listing = node.admin("GET", "/api/v1/users?limit=500")
    assert status == 200, listing
    return next((user for user in listing["results"] if user["name"] == name), None)


def logs_in(node, name: str, password: str) -> int:
    return Http(node.base_url)("POST", "/api/v1/auth/login", {"username": name, "password": password})[0]


def test_instances_appear_and_disappear_without_a_reload(console_node, new_page):
    base = console_node.base_url
    status, body = console_node.admin("PUT", f"{SERVICES}/shop/web/-/instances/web-1",
                                      {"address": "10.1.0.1", "port": 80, "ttl": 60})
    assert status == 201, body
    page = new_page()
    log_in(page, base, "admin", console_node.admin_password, then="/console/services")
    expect(page.locator("#services tbody tr", has_text="shop/web")).to_contain_text("1")
    screenshot(page, "registry-services")

    page.get_by_label("Service name").fill("Not A Service")
    page.get_by_role("button", name="Open").click()
    expect(page.locator("#name-error")).to_contain_text("service")
    expect(page.get_by_label("Service name")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Service name").fill("shop/api")
    page.get_by_role("button", name="Open").click()
    expect(page).to_have_url(re.compile(r"/console/services/shop/api$"))
    rows = page.locator("#instances tbody tr")
    expect(rows).to_have_count(0)
    expect(page.locator("#no-instances")).to_be_visible()
    # Survives only if the page is never reloaded.
    page.evaluate("window.sameDocument = true")

    app = Http(base, console_node.token("shop/*", "write"))
    status, body = app("PUT", f"{SERVICES}/shop/api/-/instances/api-2", {
        "address": "10.1.0.7", "port": 8443, "metadata": {"version": "2.4.1", "zone": "eu-1"},
        "health": "warning", "ttl": 45})
    assert status == 201, body
    added = page.locator('#instances tbody tr[data-instance="api-2"]')
    for shown in ("10.1.0.7", "8443", "warning", "version=2.4.1", "zone=eu-1", "45 s"):
        expect(added).to_contain_text(shown)
    expect(page.locator("#instance-count")).to_have_text("1 live instance. api-2 registered.")
    expect(page.locator("#no-instances")).to_be_hidden()

    status, body = app("PUT", f"{SERVICES}/shop/api/-/instances/api-1", {"address": "10.1.0.6", "port": 8443})
    assert status == 201, body
    expect(rows).to_have_count(2)
    # In id order, as the server lists them.
    expect(rows.first).to_have_attribute("data-instance", "api-1")
    expect(page.locator("#instance-count")).to_have_text("2 live instances. api-1 registered.")
    screenshot(page, "registry-service")

    status, body = app("DELETE", f"{SERVICES}/shop/api/-/instances/api-2")
    assert status == 200, body
    expect(added).to_have_count(0)
    expect(rows).to_have_count(1)
    expect(page.locator("#instance-count")).to_have_text("1 live instance. api-2 left.")
    status, body = app("DELETE", f"{SERVICES}/shop/api/-/instances/api-1")
    assert status == 200, body
    expect(rows).to_have_count(0)
    expect(page.locator("#no-instances")).to_be_visible()
    assert page.evaluate("window.sameDocument") is True

    # A fresh load shows what the registry holds now.
    page.reload()
    expect(rows).to_have_count(0)


def test_an_administrator_creates_changes_and_deletes_a_user(console_node, new_page):
    base = console_node.base_url
    page = new_page()
    log_in(page, base, "admin", console_node.admin_password, then="/console/admin/users")
    page.get_by_label("User name").fill("vera")
    page.get_by_label("Password (at least 10 characters)").fill("short")
    page.get_by_label("Namespaces 1").fill("Shop Floor")
    page.get_by_role("button", name="Create user").click()
    # Every mistake at once, each next to its field; the form keeps what was typed.
    expect(page.locator("#password-error")).to_contain_text("at least 10 characters")
    expect(page.get_by_label("Namespaces 1")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Namespaces 1")).to_have_attribute("aria-describedby", "grant-1-error")
    expect(page.locator("#grant-1-error")).to_contain_text("A pattern is *, name/* or a namespace name")
    expect(page.get_by_label("Namespaces 1")).to_have_value("Shop Floor")
    expect(page.get_by_label("User name")).to_have_value("vera")
    assert rest_user(console_node, "vera") is None

    page.get_by_label("Password (at least 10 characters)").fill("vera's first password")
    page.get_by_label("Namespaces 1").fill("shop/*")
    page.get_by_label("Role 1").select_option("viewer")
    page.get_by_role("button", name="Create user").click()
    expect(page).to_have_url(re.compile(r"/console/admin/users/vera\?saved=created#main$"))
    expect(page.get_by_role("status").first).to_contain_text("User created")
    assert rest_user(console_node, "vera")["grants"] == [{"role": "viewer", "namespaces": "shop/*"}]
    page.goto(f"{base}/console/admin/users")
    vera_row = page.locator('#users tr[data-user="vera"]')
    expect(vera_row).to_contain_text("viewer on shop/*")
    expect(vera_row).to_contain_text("active")
    screenshot(page, "admin-users")

    # A viewer is no administrator: the admin pages answer 403.
    viewer = new_page()
    viewer.console_errors.expect(r"status of 403")
    log_in(viewer, base, "vera", "vera's first password")
    response = viewer.goto(f"{base}/console/admin/users")
    assert response.status == 403
    expect(viewer.get_by_role("alert")).to_contain_text("not an administrator")
    expect(viewer.get_by_role("link", name="Admin")).to_have_count(0)

    vera_row.get_by_role("link", name="vera").click()
    page.get_by_label("Role 2").select_option("editor")
    page.get_by_label("Namespaces 2").fill("shop/prod")
    page.get_by_role("button", name="Save grants").click()
    expect(page.get_by_role("status").first).to_contain_text("Grants saved")
    assert rest_user(console_node, "vera")["grants"] == [{"role": "viewer", "namespaces": "shop/*"},
                                                        {"role": "editor", "namespaces": "shop/prod"}]
    page.get_by_label("Namespaces 1").fill("")
    page.get_by_role("button", name="Save grants").click()
    expect(page.get_by_role("status").first).to_contain_text("Grants saved")
    assert rest_user(console_node, "vera")["grants"] == [{"role": "editor", "namespaces": "shop/prod"}]

    page.get_by_role("button", name="Disable the account").click()
    expect(page.get_by_role("status").first).to_contain_text("Account disabled")
    expect(page.locator("h1")).to_contain_text("disabled")
    assert logs_in(console_node, "vera", "vera's first password") == 401
    page.get_by_role("button", name="Enable the account").click()
    expect(page.get_by_role("status").first).to_contain_text("Account enabled")
    assert logs_in(console_node, "vera", "vera's first password") == 200

    page.get_by_label("New password (at least 10 characters)").fill("tiny")
    page.get_by_role("button", name="Reset password").click()
    expect(page.locator("#password-error")).to_contain_text("at least 10 characters")
    page.get_by_label("New password (at least 10 characters)").fill("vera's second password")
    page.get_by_role("button", name="Reset password").click()
    expect(page.get_by_role("status").first).to_contain_text("Password changed")
    assert logs_in(console_node, "vera", "vera's first password") == 401
    assert logs_in(console_node, "vera", "vera's second password") == 200
    screenshot(page, "admin-user")

    page.get_by_label("To delete vera for good, type the user name").fill("ver")
    page.get_by_role("button", name="Delete user").click()
    expect(page.locator("#confirm-error")).to_contain_text("Type the user name, vera, to confirm")
    assert rest_user(console_node, "vera") is not None
    page.get_by_label("To delete vera for good, type the user name").fill("vera")
    page.get_by_role("button", name="Delete user").click()
    expect(page).to_have_url(re.compile(r"/console/admin/users\?deleted=vera$"))
    expect(page.get_by_role("status").first).to_contain_text("User vera deleted")
    expect(page.locator('#users tr[data-user="vera"]')).to_have_count(0)
    assert rest_user(console_node, "vera") is None

    # Administrators are not offered to lock themselves out.
    page.goto(f"{base}/console/admin/users/admin")
    expect(page.get_by_role("button", name="Disable the account")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete user")).to_have_count(0)


def test_a_token_is_shown_once_and_refused_once_revoked(console_node, new_page):
    base = console_node.base_url
    console_node.namespace("tok/prod")
    page = new_page()
    log_in(page, base, "admin", console_node.admin_password, then="/console/tokens")
    page.get_by_label("What it is for").fill("deploy pipeline")
    page.get_by_label("Namespaces").fill("Tok Star")
    page.get_by_label("Expires in (days; empty: never)").fill("soon")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#namespaces-error")).to_contain_text("A pattern is *, name/* or a namespace name")
    expect(page.locator("#expires_in_days-error")).to_contain_text("whole number of days")
    expect(page.get_by_label("Expires in (days; empty: never)")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("The token")).to_have_count(0)

    page.get_by_label("Namespaces").fill("tok/*")
    page.get_by_label("Access").select_option("write")
    page.get_by_label("Expires in (days; empty: never)").fill("30")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/console/tokens")) as answer:
        page.get_by_role("button", name="Create token").click()
    assert "no-store" in answer.value.headers["cache-control"]
    expect(page.get_by_text("Copy it now: it will not be shown again.")).to_be_visible()
    raw = page.get_by_label("The token").input_value()
    assert re.fullmatch(r"cct_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", raw), raw
    token_id, secret = raw.split("_")[1], raw.split("_", 2)[2]
    screenshot(page, "tokens-created")
    assert Http(base, raw)("GET", "/api/v1/namespaces/tok/prod")[0] == 200

    page.goto(f"{base}/console/tokens")
    row = page.locator(f'#tokens tr[data-token="{token_id}"]')
    for shown in ("deploy pipeline", "admin", "tok/*", "write", "active"):
        expect(row).to_contain_text(shown)
    expect(page.get_by_label("The token")).to_have_count(0)
    assert secret not in page.content()
    page.reload()
    assert secret not in page.content()
    screenshot(page, "tokens")

    # Revoking asks first; until confirmed the token keeps working.
    row.get_by_role("link", name="Revoke deploy pipeline").click()
    expect(page.get_by_role("heading", name="Revoke token deploy pipeline?")).to_be_visible()
    assert Http(base, raw)("GET", "/api/v1/namespaces/tok/prod")[0] == 200
    page.get_by_role("button", name="Revoke token deploy pipeline").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Token {token_id} revoked")
    expect(row).to_contain_text("revoked")
    expect(row.get_by_role("link", name="Revoke deploy pipeline")).to_have_count(0)
    assert Http(base, raw)("GET", "/api/v1/namespaces/tok/prod")[0] == 401

    # Everyone manages their own tokens, and sees only those.
    status, body = console_node.admin("POST", "/api/v1/users", {
        "name": "tara", "password": "tara's password", "grants": [{"role": "viewer", "namespaces": "tok/*"}]})
    assert status == 201, body
    own = new_page()
    log_in(own, base, "tara", "tara's password", then="/console/tokens")
    expect(own.locator(f'#tokens tr[data-token="{token_id}"]')).to_have_count(0)
    own.get_by_label("What it is for").fill("tara's reader")
    own.get_by_role("button", name="Create token").click()
    tara_raw = own.get_by_label("The token").input_value()
    assert Http(base, tara_raw)("GET", "/api/v1/namespaces/tok/prod")[0] == 200
    page.goto(f"{base}/console/tokens")
    expect(page.locator("#tokens tr", has_text="tara's reader")).to_contain_text("tara")
