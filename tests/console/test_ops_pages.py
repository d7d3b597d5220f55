"""The dashboard, delivery and canary, the service registry (live) and the
admin pages, in a real Chromium against a real node."""
from __future__ import annotations

import asyncio
import json
import re
import threading

from playwright.sync_api import expect

from tests.config.test_api_on_a_node import Http
from tests.live.live_support import receive, receive_until, subscriber

from .browser_support import log_in, screenshot

API = "/api/v1/services"


def test_dashboard_shows_the_leader_and_recent_releases(console_node, new_page):
    console_node.namespace("dash/prod")
    console_node.publish("dash/prod", "app.yaml", "a: 1\n")
    page = new_page()
    log_in(page, console_node.base_url, "admin", console_node.admin_password, then="/console/")
    expect(page.locator("#alerts")).to_contain_text("Healthy")
    expect(page.locator("#members tbody tr")).to_have_count(1)
    expect(page.locator("#members tbody tr").first).to_contain_text("leader")
    expect(page.locator("#recent")).to_contain_text("dash/prod")
    # The panel refreshes itself from /api/v1/cluster/status.
    expect(page.locator("#cluster-refreshed")).to_contain_text("Refreshed at", timeout=12_000)
    screenshot(page, "dashboard")


def test_a_registered_instance_appears_and_disappears_live(console_node, new_page):
    page = new_page()
    log_in(page, console_node.base_url, "admin", console_node.admin_password)
    page.goto(f"{console_node.base_url}/console/services?name=pay/api")
    expect(page).to_have_url(re.compile(r"/console/services/pay/api$"))
    rows = page.locator("#instances tbody tr")
    expect(rows).to_have_count(0)
    status, body = console_node.admin("PUT", f"{API}/pay/api/-/instances/i-1",
                                      {"address": "10.0.0.1", "port": 8080, "metadata": {"version": "1.2"}, "ttl": 30})
    assert status in (200, 201), body
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("10.0.0.1")
    expect(page.locator("#instance-count")).to_contain_text("i-1 registered")
    screenshot(page, "service")
    status, _ = console_node.admin("DELETE", f"{API}/pay/api/-/instances/i-1")
    assert status in (200, 204)
    expect(rows).to_have_count(0)
    expect(page.locator("#instance-count")).to_contain_text("i-1 left")
    page.goto(f"{console_node.base_url}/console/services?name=Not%20A%20Service")
    expect(page.locator("#name-error")).to_be_visible()


def test_users_and_tokens(console_node, new_page):
    page = new_page()
    log_in(page, console_node.base_url, "admin", console_node.admin_password, then="/console/admin/users")
    page.get_by_label("User name").fill("vanessa")
    page.get_by_label("Password (at least 10 characters)").fill("short")
    page.get_by_label("Namespaces 1").fill("shop/*")
    page.get_by_role("button", name="Create user").click()
    expect(page.locator("#password-error")).to_contain_text("10")
    status, listed = console_node.admin("GET", "/api/v1/users")
    assert "vanessa" not in [u["name"] for u in listed["results"]]
    page.get_by_label("Password (at least 10 characters)").fill("a long enough password")
    page.get_by_label("Namespaces 1").fill("Bad Pattern")
    page.get_by_role("button", name="Create user").click()
    expect(page.locator("#grants-error")).to_be_visible()
    page.get_by_label("Password (at least 10 characters)").fill("a long enough password")
    page.get_by_label("Namespaces 1").fill("shop/*")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("status").first).to_contain_text("User vanessa created")
    expect(page.locator("#users")).to_contain_text("viewer on shop/*")
    screenshot(page, "users")

    page.goto(f"{console_node.base_url}/console/tokens")
    page.get_by_label("What it is for").fill("deploy pipeline")
    page.get_by_label("Expires in (days; empty: never)").fill("soon")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#expires_in_days-error")).to_be_visible()
    page.get_by_label("Expires in (days; empty: never)").fill("30")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_text("Copy it now: it will not be shown again.")).to_be_visible()
    raw = page.get_by_label("The token").input_value()
    assert raw.startswith("cct_")
    screenshot(page, "tokens")
    assert Http(console_node.base_url, raw)("GET", "/api/v1/namespaces")[0] == 200
    page.goto(f"{console_node.base_url}/console/tokens")
    assert raw not in page.content()
    page.get_by_role("button", name="Revoke deploy pipeline").click()
    expect(page.get_by_role("status").first).to_contain_text("revoked")
    assert Http(console_node.base_url, raw)("GET", "/api/v1/namespaces")[0] == 401


def test_delivery_shows_instances_and_a_canary_is_started_and_abandoned(console_node, new_page):
    console_node.namespace("ship/prod")
    console_node.publish("ship/prod", "app.yaml", "a: 1\n")
    token = console_node.token("ship/*", "read")
    connected, release = threading.Event(), threading.Event()

    async def instance():
        async with await subscriber(console_node.ws_url, token) as ws:
            await ws.send(json.dumps({"type": "hello", "instance": {
                "id": "pod-7", "labels": {"zone": "eu"}, "host": "web-7", "sdk": "test/1"}}))
            assert (await receive(ws))["type"] == "welcome"
            await ws.send(json.dumps({"type": "subscribe", "namespace": "ship/prod"}))
            snapshot = await receive_until(ws, "snapshot")
            await ws.send(json.dumps({"type": "ack", "namespace": "ship/prod", "revision": snapshot["revision"]}))
            connected.set()
            await asyncio.to_thread(release.wait, 120)

    failures = []

    def run_instance():
        try:
            asyncio.run(instance())
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            failures.append(error)
            connected.set()

    thread = threading.Thread(target=run_instance, daemon=True)
    thread.start()
    try:
        assert connected.wait(30) and not failures, failures
        page = new_page()
        log_in(page, console_node.base_url, "admin", console_node.admin_password)
        page.goto(f"{console_node.base_url}/console/ns/ship/prod/-/delivery")
        # Tracking is flushed to the store every few seconds: reload until it shows.
        row = page.locator("#delivery-instances tr[data-instance=pod-7]")
        for _ in range(30):
            if row.count():
                break
            page.wait_for_timeout(500)
            page.reload()
        expect(row).to_contain_text("#1")
        expect(row).to_contain_text("zone=eu")
        status, _ = console_node.admin("PUT", "/api/v1/namespaces/ship/prod/-/items/app.yaml",
                                       {"content": "a: 2\n", "revision": console_node.revisions[("ship/prod", "app.yaml")]})
        assert status == 200
        page.reload()
        page.get_by_label("and/or a percentage of instances (1–100)").fill("250")
        page.get_by_label("Comment").fill("try it in the EU first")
        page.get_by_role("button", name="Start canary").click()
        expect(page.locator("#percent-error")).to_contain_text("1 to 100")
        page.get_by_label("and/or a percentage of instances (1–100)").fill("")
        page.get_by_label("Instance labels (all must match), e.g. zone=eu, tier=web").fill("zone=eu")
        page.get_by_role("button", name="Start canary").click()
        expect(page.get_by_role("status").first).to_contain_text("Canary started")
        expect(page.locator("#canary-heading + p")).to_contain_text("zone=eu")
        screenshot(page, "delivery")
        page.get_by_label("Comment").fill("not now")
        page.get_by_role("button", name="Abandon").click()
        expect(page.get_by_role("status").first).to_contain_text("Canary abandoned")
        status, canary = console_node.admin("GET", "/api/v1/namespaces/ship/prod/-/canary")
        assert status == 200 and canary["running"] is False
    finally:
        release.set()
        thread.join(30)
