"""The dashboard, and delivery with a canary, in a real Chromium against a
real node (the registry and admin pages: test_registry_admin.py)."""
from __future__ import annotations

import asyncio
import json
import threading
import urllib.request

from playwright.sync_api import expect

from tests.live.live_support import receive, receive_until, subscriber

from .browser_support import log_in, screenshot

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


def gateway_alarm(node, action: str, member_id: str) -> dict:
    request = urllib.request.Request(node.base_url + "/v3/maintenance/alarm", method="POST", data=json.dumps(
        {"action": action, "memberID": member_id, "alarm": "NOSPACE"}).encode())
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_the_dashboard_shows_a_raised_alarm_and_its_remedy(console_node, new_page):
    with urllib.request.urlopen(urllib.request.Request(console_node.base_url + "/v3/maintenance/status",
                                                       data=b"{}", method="POST"), timeout=10) as response:
        member_id = json.loads(response.read())["header"]["member_id"]
    page = new_page()
    log_in(page, console_node.base_url, "admin", console_node.admin_password, then="/console/")
    raised = gateway_alarm(console_node, "ACTIVATE", member_id)
    assert raised["alarms"] == [{"memberID": member_id, "alarm": "NOSPACE"}]
    try:
        # the panel refreshes itself and shows the alarm, with what to do
        expect(page.locator("#alerts")).to_contain_text(f"Alarm NOSPACE raised for member {int(member_id):x}",
                                                        timeout=12_000)
        expect(page.locator("#alerts")).to_contain_text("etcdctl alarm disarm")
        page.reload()
        expect(page.locator("#alerts")).to_contain_text("Alarm NOSPACE raised")
        # a new session cannot be saved meanwhile: the login form says why, not a server error
        other = new_page()
        other.console_errors.expect("status of 507")
        other.goto(console_node.base_url + "/console/login")
        other.get_by_label("User name").fill("admin")
        other.get_by_label("Password").fill(console_node.admin_password)
        other.get_by_role("button", name="Log in").click()
        expect(other.locator("body")).to_contain_text("the store is over its quota")
    finally:
        gateway_alarm(console_node, "DEACTIVATE", member_id)


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
