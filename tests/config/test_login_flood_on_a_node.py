"""A flood of logins with made-up names, over HTTP against a real node
(Django's PBKDF2 hasher, about half a second a check): the administrator,
who has logged in from the same address before, still gets in within a
second, and the audit log grows by a bounded number of entries.

Before the login guards, 32 such loops made a correct login take 6.6 s and
wrote one audit entry per attempt."""
from __future__ import annotations

import http.client
import json
import secrets
import threading
import time
from collections import Counter

from config_center.service import login_throttle, users
from tests.config.test_api_on_a_node import Http
from tests.live.live_support import LiveNode, live_node

CLIENTS = 32
FLOOD_SECONDS = 3.0
ADMIN_LOGINS = 3


def _flood(host: str, port: int, stop: threading.Event, statuses: Counter, lock: threading.Lock) -> None:
    """Logins with random names as fast as they are answered, on one
    keep-alive connection, as an attacker's loop would."""
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        while not stop.is_set():
            body = json.dumps({"username": "u" + secrets.token_hex(6), "password": "guess " + secrets.token_hex(6)})
            connection.request("POST", "/api/v1/auth/login", body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            with lock:
                statuses[response.status] += 1
                if response.status == 429 and response.getheader("Retry-After") is None:
                    statuses["429 without Retry-After"] += 1
    finally:
        connection.close()


def _audit_entries(node: LiveNode) -> int:
    status, verified = node.admin("GET", "/api/v1/audit/verify?chain=_global")
    assert status == 200 and verified["ok"], verified
    return verified["entries"]


def test_a_flood_of_made_up_names_neither_stalls_the_admin_nor_fills_the_audit_log(tmp_path):
    # The node's admin session (LiveNode) logs in first: from here on the
    # name is trusted from this address, which is the flood's too.
    with live_node(tmp_path / "data") as node:
        password = (node.node.data_dir / "admin-password").read_text().strip()
        entries_before = _audit_entries(node)
        stop, lock, statuses = threading.Event(), threading.Lock(), Counter()
        flooders = [threading.Thread(target=_flood, args=(node.node.host, node.node.port, stop, statuses, lock))
                    for _ in range(CLIENTS)]
        started = time.monotonic()
        for flooder in flooders:
            flooder.start()
        took = []
        try:
            # The middle third of the flood; each login in a new session, as
            # from another browser on the same machine.
            for i in range(ADMIN_LOGINS):
                time.sleep(max(0.0, FLOOD_SECONDS * (1 + i / ADMIN_LOGINS) / 3 - (time.monotonic() - started)))
                asked = time.monotonic()
                status, me = Http(node.node.base_url)("POST", "/api/v1/auth/login",
                                                      {"username": "admin", "password": password})
                took.append(time.monotonic() - asked)
                assert status == 200 and me["user"] == "admin", me
            time.sleep(max(0.0, FLOOD_SECONDS - (time.monotonic() - started)))
        finally:
            stop.set()
            for flooder in flooders:
                flooder.join(30)
        attempts = sum(n for status, n in statuses.items() if isinstance(status, int))
        print(f"admin logins {[round(t, 3) for t in took]} s; flood {dict(statuses)} "
              f"in {time.monotonic() - started:.1f} s")
        assert max(took) < 1.0, f"the admin's logins took {took} s under the flood"
        assert attempts >= 192, statuses
        assert set(statuses) <= {401, 429}, statuses
        # Checked (401) only while the address had free failures left and a
        # slot was free; refused unhashed (429) otherwise.
        assert statuses[401] <= login_throttle.ADDRESS_FREE_FAILURES + login_throttle.PER_ADDRESS_CHECKS, statuses
        # The first few failures of the flood's address are written as they
        # happen; the rest wait for one summary at the end of the interval.
        written = _audit_entries(node) - entries_before
        assert written <= users.FIRST_WRITTEN, f"{written} audit entries for {attempts} attempts"
