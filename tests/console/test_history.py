"""Release history, comparing two releases, rolling back and the audit log,
in a real Chromium against a real node. Each test works in a namespace of
its own, its releases published through the REST API."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from .browser_support import log_in, screenshot

RELEASE_1 = "server:\n  port: 8080\nname: shop\n"
RELEASE_2 = "server:\n  port: 9090\nname: shop\n"
RELEASE_3 = "server:\n  port: 9090\nname: shop\nmode: fast\n"


def three_releases(node, ns: str) -> None:
    node.namespace(ns)
    for content in (RELEASE_1, RELEASE_2, RELEASE_3):
        node.publish(ns, "app.yaml", content)


def release_rows(page):
    return page.locator("#releases tbody tr[data-seq]")


def test_history_lists_releases_and_compares_two(console_node, new_page):
    ns = "history/compare"
    three_releases(console_node, ns)
    page = new_page()
    log_in(page, console_node.base_url, "admin", console_node.admin_password, then=f"/console/ns/{ns}/-/releases")
    rows = release_rows(page)
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_have_attribute("data-seq", "3")
    expect(rows.nth(0)).to_contain_text("publish")
    expect(rows.nth(0)).to_contain_text("admin")
    expect(rows.nth(0)).to_contain_text("app.yaml")
    screenshot(page, "history")

    # The script will not compare a release with itself.
    page.get_by_label("Compare from release 2").check()
    page.get_by_label("Compare to release 2").check()
    expect(page.get_by_role("button", name="Compare")).to_be_disabled()
    expect(page.locator("#compare-help")).to_have_text("Pick two different releases.")

    page.get_by_label("Compare from release 1").check()
    page.get_by_role("button", name="Compare").click()
    expect(page).to_have_url(re.compile(r"/compare\?(old=1&new=2|new=2&old=1)$"))
    expect(page.get_by_role("heading", name="Release #1 → release #2")).to_be_visible()
    content = page.locator("#main")
    # Structural: the one key whose value changed, with both values.
    expect(content).to_contain_text("$.server.port")
    structural = page.locator(".structural").first
    expect(structural).to_contain_text("8080")
    expect(structural).to_contain_text("9090")
    # Text: the old and the new line, side by side.
    expect(page.locator(".diff .del").first).to_contain_text("port: 8080")
    expect(page.locator(".diff .add").first).to_contain_text("port: 9090")
    expect(content).not_to_contain_text("mode")  # release 3's change is not between 1 and 2
    screenshot(page, "compare")


def test_compare_refuses_what_is_not_two_releases(console_node, new_page):
    ns = "history/badcompare"
    three_releases(console_node, ns)
    page = new_page()
    page.console_errors.expect(r"status of 40[04]")
    log_in(page, console_node.base_url, "admin", console_node.admin_password)
    base = f"{console_node.base_url}/console/ns/{ns}/-/compare"

    response = page.goto(f"{base}?old=first&new=2")
    assert response.status == 400
    expect(page.locator("#old-error")).to_contain_text("must be a release number")
    expect(page.get_by_label("From release")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".diff")).to_have_count(0)

    response = page.goto(f"{base}?new=2")
    assert response.status == 400
    expect(page.locator("#old-error")).to_contain_text("Pick the older release")

    response = page.goto(f"{base}?old=1&new=99")
    assert response.status == 404
    expect(page.get_by_role("alert")).to_contain_text("release 99")
    expect(page.get_by_role("alert")).to_contain_text("does not exist")
    expect(page.locator(".diff")).to_have_count(0)

    # Correcting the form on the page compares.
    page.get_by_label("To release").fill("3")
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("heading", name="Release #1 → release #3")).to_be_visible()
    expect(page.locator("#main")).to_contain_text("$.mode")


def test_rollback_with_comment_then_history_and_audit_show_it(console_node, new_page):
    ns = "history/rollback"
    three_releases(console_node, ns)
    page = new_page()
    page.console_errors.expect(r"status of 40[09]")
    log_in(page, console_node.base_url, "admin", console_node.admin_password, then=f"/console/ns/{ns}/-/releases")
    release_rows(page).filter(has=page.locator("strong", has_text="#1")).get_by_role(
        "link", name="Roll back to this").click()
    expect(page.get_by_role("heading", name="Roll back to release #1")).to_be_visible()
    # The diff from the live release (3) to release 1.
    expect(page.locator(".diff .del").first).to_contain_text("port: 9090")
    expect(page.locator(".diff .add").first).to_contain_text("port: 8080")
    expect(page.locator("#main")).to_contain_text("$.mode")
    screenshot(page, "rollback-confirmation")

    # No comment: refused next to the field, nothing rolled back.
    page.get_by_role("button", name="Roll back to release #1").click()
    expect(page.locator("#comment-error")).to_contain_text("Say why you roll back")
    expect(page.get_by_label("Why roll back? (required)")).to_have_attribute("aria-invalid", "true")
    assert console_node.admin("GET", f"/api/v1/namespaces/{ns}")[1]["release"] == 3

    # Someone publishes while the form is open: the page shows the new diff.
    page.get_by_label("Why roll back? (required)").fill("port 9090 broke the checkout")
    console_node.publish(ns, "app.yaml", RELEASE_3 + "workers: 4\n")
    page.get_by_role("button", name="Roll back to release #1").click()
    expect(page.locator("#rollback-conflict")).to_contain_text("changed while you were reviewing")
    expect(page.locator("#main")).to_contain_text("$.workers")
    expect(page.get_by_label("Why roll back? (required)")).to_have_value("port 9090 broke the checkout")

    page.get_by_role("button", name="Roll back to release #1").click()
    expect(page).to_have_url(re.compile(r"/releases\?rolled_back=5&to=1"))
    expect(page.get_by_role("status").filter(has_text="Rolled back")).to_contain_text(
        "release #5 is live, with the items of release #1")
    newest = release_rows(page).nth(0)
    expect(newest).to_have_attribute("data-seq", "5")
    expect(newest).to_contain_text("rollback")
    expect(newest).to_contain_text("to #1")
    expect(newest).to_contain_text("port 9090 broke the checkout")
    status, live = console_node.admin("GET", f"/api/v1/namespaces/{ns}/-/items/app.yaml")
    assert status == 200 and live["content"] == RELEASE_1, live

    page.get_by_role("navigation", name="Namespace").get_by_role("link", name="Audit").click()
    entry = page.locator("#audit tbody tr[data-action='release.rollback']")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("admin")
    expect(entry).to_contain_text("port 9090 broke the checkout")
    page.locator("#audit-verification").get_by_role("link").click()
    expect(page.locator("#audit-verification")).to_contain_text("hash chain intact")
    entry = page.locator("#audit tbody tr[data-action='release.rollback']")
    entry.locator("summary").click()
    expect(entry.locator("pre")).to_contain_text('"rollback_of": 1')
    screenshot(page, "audit")


def test_audit_filters_and_refuses_a_bad_date(console_node, new_page):
    ns = "history/audit"
    three_releases(console_node, ns)
    page = new_page()
    page.console_errors.expect(r"status of 400")
    log_in(page, console_node.base_url, "admin", console_node.admin_password, then=f"/console/ns/{ns}/-/audit")
    entries = page.locator("#audit tbody tr[data-action]")
    expect(entries).to_have_count(7)  # namespace.create, then a draft.save and a release.publish for each
    page.get_by_role("link", name=f"Verify the chain of {ns}").click()
    expect(page.locator("#audit-verification")).to_have_text(re.compile(r"verified: 7 entries, hash chain intact"))

    page.get_by_label("Action").fill("release.publish")
    page.get_by_role("button", name="Filter").click()
    expect(entries).to_have_count(3)
    for index in range(3):
        expect(entries.nth(index)).to_have_attribute("data-action", "release.publish")

    page.get_by_label("Since (UTC)").fill("yesterday")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#since-error")).to_contain_text("since must be a date")
    expect(page.get_by_label("Since (UTC)")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Since (UTC)")).to_have_attribute("aria-describedby", "since-error")
    expect(page.locator("#audit")).to_have_count(0)

    # A whole day in the future holds nothing; today (UTC) holds the publishes.
    page.get_by_label("Since (UTC)").fill("2999-01-01")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#audit tbody")).to_contain_text("No entries match these filters")
    page.get_by_label("Since (UTC)").fill("2000-01-01 00:00")
    page.get_by_label("Until (UTC)").fill("2999-12-31")
    page.get_by_role("button", name="Filter").click()
    expect(entries).to_have_count(3)

    # The global log, narrowed to this namespace's chain.
    page.goto(f"{console_node.base_url}/console/audit?namespace={ns}&actor=admin&action=draft.save&verify=1")
    expect(entries).to_have_count(3)
    expect(page.locator("#audit-verification")).to_contain_text(f"The chain of {ns}: verified: 7 entries")
    page.goto(f"{console_node.base_url}/console/audit?namespace={ns}&actor=nobody")
    expect(page.locator("#audit tbody")).to_contain_text("No entries match these filters")
