"""The item editor and the publish dialog in a real Chromium: a syntax error
shown at its line as you type, a draft saved, the diff reviewed and
published with a comment, a concurrent change shown as a diff with a
choice, and a viewer who gets no edit controls and is refused by the API."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.config.test_api_on_a_node import Http

from .browser_support import log_in, screenshot


def type_into_editor(page, text: str) -> None:
    page.locator(".CodeMirror").click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def test_edit_validate_save_and_publish(console_node, new_page):
    console_node.namespace("edit/prod")
    page = new_page()
    log_in(page, console_node.base_url, "admin", console_node.admin_password)
    page.goto(f"{console_node.base_url}/console/ns/edit/prod")
    page.get_by_role("link", name="New item").click()
    page.get_by_label("Item name").fill("app.yaml")
    page.get_by_label("Format").select_option("yaml")
    type_into_editor(page, "server:\n  port: 8080\n  hosts: [a, b\nlimits: {}\n")
    report = page.locator("#validation")
    expect(report).to_contain_text(re.compile(r"Line [45], column \d+"))
    error_line = page.locator(".CodeMirror .cc-error-line")
    expect(error_line).to_have_count(1)
    screenshot(page, "editor-error")
    # Saving anyway is refused next to the editor, and nothing is saved.
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#content-error")).to_contain_text("invalid yaml")
    status, pending = console_node.admin("GET", "/api/v1/namespaces/edit/prod/-/changes")
    assert status == 200 and pending["changes"] == []
    type_into_editor(page, "server:\n  port: 8080\n  hosts: [a, b]\n")
    expect(report).to_contain_text("Valid yaml.")
    expect(error_line).to_have_count(0)
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status").first).to_contain_text("Draft of app.yaml saved")
    expect(page.locator("#items")).to_contain_text("added")

    page.get_by_role("link", name="Review and publish").click()
    expect(page.locator(".diff .add").first).to_contain_text("server:")
    screenshot(page, "publish-dialog")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#comment-error")).to_contain_text("Say what this release changes")
    page.get_by_label("Comment").fill("first config of the server")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status").first).to_contain_text("Published release #1")
    status, live = console_node.admin("GET", "/api/v1/namespaces/edit/prod/-/config")
    assert status == 200 and live["release"] == 1


def test_a_concurrent_change_is_shown_as_a_diff_with_a_choice(console_node, new_page):
    console_node.namespace("edit/race")
    console_node.publish("edit/race", "app.yaml", "a: 1\n")
    page = new_page()
    log_in(page, console_node.base_url, "admin", console_node.admin_password)
    page.goto(f"{console_node.base_url}/console/ns/edit/race/-/items/app.yaml")
    type_into_editor(page, "a: 2\n")
    # Meanwhile a pipeline drafts another value.
    status, item = console_node.admin("GET", "/api/v1/namespaces/edit/race/-/items/app.yaml")
    status, saved = console_node.admin("PUT", "/api/v1/namespaces/edit/race/-/items/app.yaml",
                                       {"content": "a: 3\n", "revision": item["revision"]})
    assert status == 200, saved
    expect(page.locator("#live-banner")).to_contain_text("Changed since you opened it")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("alert").first).to_contain_text("changed this item since you opened it")
    expect(page.locator(".diff .del")).to_contain_text("a: 3")
    expect(page.locator(".diff .add")).to_contain_text("a: 2")
    status, draft = console_node.admin("GET", "/api/v1/namespaces/edit/race/-/items/app.yaml?view=draft")
    assert draft["content"] == "a: 3\n"  # nothing was overwritten
    page.get_by_role("button", name="Save mine over theirs").click()
    expect(page.get_by_role("status").first).to_contain_text("Draft of app.yaml saved")
    status, draft = console_node.admin("GET", "/api/v1/namespaces/edit/race/-/items/app.yaml?view=draft")
    assert draft["content"] == "a: 2\n"


def test_a_viewer_sees_no_edit_controls_and_the_api_refuses_anyway(console_node, new_page):
    console_node.namespace("edit/ro")
    console_node.publish("edit/ro", "app.yaml", "a: 1\n")
    status, body = console_node.admin("POST", "/api/v1/users", {
        "name": "victor", "password": "viewer password 1", "grants": [{"role": "viewer", "namespaces": "edit/*"}]})
    assert status == 201, body
    page = new_page()
    page.console_errors.expect(r"status of 403")
    log_in(page, console_node.base_url, "victor", "viewer password 1")
    page.goto(f"{console_node.base_url}/console/ns/edit/ro")
    expect(page.locator("#items")).to_contain_text("app.yaml")
    expect(page.get_by_role("link", name="New item")).to_have_count(0)
    page.goto(f"{console_node.base_url}/console/ns/edit/ro/-/items/app.yaml")
    expect(page.get_by_text("You may read this namespace but not edit it.")).to_be_visible()
    expect(page.get_by_role("button", name="Save draft")).to_have_count(0)
    # The same session, straight at the API: refused.
    answer = page.evaluate("""async () => {
        const csrf = document.querySelector('input[name=csrfmiddlewaretoken]').value;
        const response = await fetch('/api/v1/namespaces/edit/ro/-/items/app.yaml', {
            method: 'PUT', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf},
            body: JSON.stringify({content: 'a: 9\\n', revision: 0})});
        return [response.status, await response.json()];
    }""")
    assert answer[0] == 403 and answer[1]["code"] == "forbidden"
    # And a form post to the console is refused too.
    victor = Http(console_node.base_url)
    status, _ = victor("POST", "/api/v1/auth/login", {"username": "victor", "password": "viewer password 1"})
    assert status == 200
    status, item = console_node.admin("GET", "/api/v1/namespaces/edit/ro/-/items/app.yaml")
    assert item["content"] == "a: 1\n"
