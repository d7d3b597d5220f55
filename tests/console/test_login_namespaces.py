"""Logging in and out, the lockout after repeated failures, and the
namespaces pages, in a real Chromium against a real node."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from config_center.service import login_throttle

from .browser_support import PHONE, log_in, screenshot


def test_bad_credentials_then_login_and_logout(console_node, new_page):
    page = new_page()
    page.console_errors.expect(r"status of 429")  # the lockout page
    page.goto(f"{console_node.base_url}/console/namespaces")
    expect(page).to_have_url(re.compile(r"/console/login\?next=%2Fconsole%2Fnamespaces"))
    screenshot(page, "login")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#username-error")).to_have_text("Enter your user name.")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("wrong user name or password")
    page.get_by_label("Password").fill(console_node.admin_password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/console/namespaces$"))
    expect(page.get_by_role("heading", name="Namespaces")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/console/login"))
    page.goto(f"{console_node.base_url}/console/namespaces")
    expect(page).to_have_url(re.compile(r"/console/login"))


def test_repeated_failures_lock_the_name_out(console_node, new_page):
    status, body = console_node.admin("POST", "/api/v1/users", {
        "name": "lockme", "password": "a good password 1", "grants": []})
    assert status == 201, body
    page = new_page()
    page.console_errors.expect(r"status of 429")
    page.goto(f"{console_node.base_url}/console/login")
    for _ in range(login_throttle.FREE_FAILURES + 1):
        page.get_by_label("User name").fill("lockme")
        page.get_by_label("Password").fill("wrong guess")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_be_visible()
    # Now even the right password is refused until the wait is over.
    page.get_by_label("User name").fill("lockme")
    page.get_by_label("Password").fill("a good password 1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("too many failed logins")
    expect(page).to_have_url(re.compile(r"/console/login"))


def test_open_redirects_are_refused(console_node, new_page):
    page = new_page()
    page.goto(f"{console_node.base_url}/console/login?next=https://evil.example/")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(console_node.admin_password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{console_node.base_url}/console/")  # the dashboard, not the other site


def test_create_search_and_filter_namespaces(console_node, new_page):
    page = new_page()
    log_in(page, console_node.base_url, "admin", console_node.admin_password)
    page.goto(f"{console_node.base_url}/console/namespaces/new")
    page.get_by_label("Name", exact=True).fill("Bad Name")
    page.get_by_role("button", name="Create namespace").click()
    expect(page.locator("#name-error")).to_contain_text("namespace")
    expect(page.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Name", exact=True).fill("shop/prod")
    page.get_by_label("JSON Schema for every item (optional)").fill("{not json")
    page.get_by_role("button", name="Create namespace").click()
    expect(page.locator("#schema-error")).to_contain_text("not valid JSON")
    page.get_by_label("JSON Schema for every item (optional)").fill("")
    page.get_by_label("Description").fill("The shop, production")
    page.get_by_label("Default format of new items").select_option("json")
    page.get_by_role("button", name="Create namespace").click()
    expect(page).to_have_url(re.compile(r"/console/ns/shop/prod\?created=1"))
    expect(page.get_by_role("status").first).to_contain_text("Namespace created")
    console_node.namespace("shop/staging")
    page.goto(f"{console_node.base_url}/console/namespaces")
    screenshot(page, "namespaces")
    page.get_by_label("Search").fill("production")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.listing tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("shop/prod")
    page.get_by_label("Search").fill("shop")
    page.get_by_label("Format").select_option("yaml")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("shop/staging")


def test_narrow_screen_menu(console_node, new_page):
    page = new_page(PHONE)
    log_in(page, console_node.base_url, "admin", console_node.admin_password)
    page.goto(f"{console_node.base_url}/console/namespaces")
    nav_link = page.get_by_role("link", name="Services")
    expect(nav_link).to_be_hidden()
    page.get_by_label("Show the menu").check()
    expect(nav_link).to_be_visible()
    screenshot(page, "namespaces-narrow")


def test_a_publish_in_another_browser_shows_on_an_open_page(console_node, new_page):
    console_node.namespace("live/page")
    console_node.publish("live/page", "app.yaml", "a: 1\n")
    page = new_page()
    log_in(page, console_node.base_url, "admin", console_node.admin_password, then="/console/ns/live/page")
    banner = page.locator("#live-banner")
    expect(banner).to_be_hidden()
    # Someone else, in another browser, drafts (through the API) and publishes in the console.
    status, item = console_node.admin("GET", "/api/v1/namespaces/live/page/-/items/app.yaml")
    status, saved = console_node.admin("PUT", "/api/v1/namespaces/live/page/-/items/app.yaml",
                                       {"content": "a: 2\n", "revision": item["revision"]})
    assert status == 200, saved
    other = new_page()
    log_in(other, console_node.base_url, "admin", console_node.admin_password, then="/console/ns/live/page/-/publish")
    other.get_by_label("Comment").fill("a is 2 now")
    other.get_by_role("button", name="Publish").click()
    expect(other.get_by_role("status").first).to_contain_text("Published release #2")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("2 changes, the last by admin: release publish")
    page.get_by_role("button", name="Reload").click()
    expect(banner).to_be_hidden()
    expect(page.locator("#main")).to_contain_text("live release #2")
    expect(page.locator("#items tr[data-item='app.yaml']")).to_contain_text("#2")
