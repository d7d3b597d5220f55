"""Fixtures of the browser tests: one real node and one Chromium per module,
a fresh browser context (its own cookies) per test.

Chromium is started per module, not per session: Playwright's sync API
keeps an event loop running on the main thread until it is stopped, and
the tests of other packages call ``asyncio.run`` there."""
from __future__ import annotations

import os

import pytest

from tests.live.live_support import live_node

from .browser_support import CHROMIUM, CHROMIUM_ARGS, DESKTOP, ConsoleErrors


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.geteuid() == 0:
            pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh installs it (Debian package chromium)")
        pytest.skip(f"{CHROMIUM} is missing and installing it needs root: run scripts/setup.sh as root")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="module")
def console_node(tmp_path_factory):
    """A running node (``tests.live.live_support.LiveNode``) with a logged-in
    REST admin, and the admin's password as ``.admin_password``."""
    with live_node(tmp_path_factory.mktemp("console") / "n") as node:
        node.admin_password = (node.node.data_dir / "admin-password").read_text().strip()
        node.base_url = node.node.base_url
        yield node


@pytest.fixture
def new_page(browser):
    """``new_page(viewport=DESKTOP)``: a page in a context of its own, failing
    the test at the end if the browser logged an error it did not expect."""
    contexts, checks = [], []

    def make(viewport=DESKTOP):
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.console_errors = ConsoleErrors(page)
        checks.append(page.console_errors)
        return page

    yield make
    for context in contexts:
        context.close()
    problems = [text for check in checks for text in check.unexpected()]
    assert not problems, f"the browser reported errors: {problems}"
