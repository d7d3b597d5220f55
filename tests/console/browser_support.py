"""Driving the console in a real Chromium: Debian's /usr/bin/chromium under
Playwright (its own browser download is not used), headless, against a real
``runnode`` process.

A page fails its test if the browser logged an error or a script threw,
unless the test said it expected that text (``page.expect_console_error``).
Screenshots go to ``test-artifacts/screenshots/`` (ignored by git).
"""
from __future__ import annotations

import re
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# Without these, Chromium reaches out to Google's services at start, which
# this machine's closed network refuses, many times over.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


class ConsoleErrors:
    """What the browser reported as errors on one page."""

    def __init__(self, page) -> None:
        self.seen: list[str] = []
        self.expected: list[re.Pattern] = []
        page.on("console", lambda message: message.type == "error" and self.seen.append(message.text))
        page.on("pageerror", lambda error: self.seen.append(f"uncaught: {error}"))

    def expect(self, pattern: str) -> None:
        self.expected.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [text for text in self.seen if not any(p.search(text) for p in self.expected)]


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page, base_url: str, name: str, password: str, then: str = "/console/namespaces") -> None:
    """Log in through the login form; the browser then shows ``then``."""
    page.goto(f"{base_url}/console/login?next={then}")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/console/(?!login).*"))
