"""Every console page, on a wide and a narrow screen: served without error,
every form control labelled, the keyboard reaches the content first through
the skip link, and no error in the browser's console."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .browser_support import DESKTOP, PHONE, log_in, screenshot

NS = "smoke/prod"

# Form controls with no accessible name: no <label>, aria-label or aria-labelledby.
UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML.slice(0, 120))"""


def pages() -> list[tuple[str, str]]:
    ns = f"/console/ns/{NS}"
    return [
        ("dashboard", "/console/"),
        ("namespaces", "/console/namespaces"),
        ("namespace", ns),
        ("namespace-settings", f"{ns}/-/settings"),
        ("item-editor", f"{ns}/-/items/app.yaml"),
        ("item-new", f"{ns}/-/items/new"),
        ("publish", f"{ns}/-/publish"),
        ("history", f"{ns}/-/releases"),
        ("compare", f"{ns}/-/compare?old=1&new=2"),
        ("rollback", f"{ns}/-/rollback/1"),
        ("namespace-audit", f"{ns}/-/audit"),
        ("audit", "/console/audit"),
        ("delivery", f"{ns}/-/delivery"),
        ("services", "/console/services"),
        ("users", "/console/admin/users"),
        ("tokens", "/console/tokens"),
    ]


@pytest.fixture(scope="module")
def seeded(console_node):
    console_node.namespace(NS, description="Smoke test namespace")
    console_node.publish(NS, "app.yaml", "server:\n  port: 8080\n")
    console_node.publish(NS, "app.yaml", "server:\n  port: 8081\n")
    status, body = console_node.admin("PUT", f"/api/v1/namespaces/{NS}/-/items/flags.yaml",
                                      {"content": "beta: true\n", "revision": 0})
    assert status == 200, body
    return console_node


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_page_serves_labels_and_logs_no_errors(seeded, new_page, viewport):
    page = new_page(viewport)
    log_in(page, seeded.base_url, "admin", seeded.admin_password)
    for name, path in pages():
        response = page.goto(seeded.base_url + path)
        assert response.status == 200, f"{name}: HTTP {response.status}"
        expect(page.locator("h1").first).to_be_visible()
        assert page.evaluate(UNLABELLED) == [], f"{name}: form controls without a label"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link", name
        if viewport is DESKTOP:
            screenshot(page, f"page-{name}")
