"""``manage.py createadmin`` against a real running node: creates an
administrator through the store API as root, resets an existing one's
password, and refuses bad input naming the problem, changing nothing."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.node.test_runnode_member import serve
from tests.test_skeleton_runnode import REPO, node_env, stop

from .test_api_on_a_node import Http


def createadmin(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", "createadmin", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env={**node_env(), **(env or {})})


def test_createadmin_creates_and_resets_administrators(tmp_path):
    process, base = serve(tmp_path)
    try:
        made = createadmin("--endpoint", base, "--data-dir", str(tmp_path), "--name", "ops")
        assert made.returncode == 0, made.stderr
        assert "created administrator 'ops'" in made.stdout
        password = made.stdout.split("password: ", 1)[1].strip()
        ops = Http(base)
        status, me = ops("POST", "/api/v1/auth/login", {"username": "ops", "password": password})
        assert status == 200 and me["administrator"], me

        (tmp_path / "new-password").write_text("a brand new password\n")
        reset = createadmin("--endpoint", base, "--data-dir", str(tmp_path), "--name", "ops",
                            "--password-file", str(tmp_path / "new-password"))
        assert reset.returncode == 0 and "updated administrator 'ops'" in reset.stdout
        assert "password:" not in reset.stdout
        assert Http(base)("POST", "/api/v1/auth/login", {"username": "ops", "password": password})[0] == 401
        assert Http(base)("POST", "/api/v1/auth/login",
                          {"username": "ops", "password": "a brand new password"})[0] == 200

        short = createadmin("--endpoint", base, "--data-dir", str(tmp_path), env={"CONFIG_CENTER_ADMIN_PASSWORD": "short"})
        assert short.returncode != 0 and "at least 10 characters" in short.stderr
        no_root = createadmin("--endpoint", base, "--data-dir", str(tmp_path / "elsewhere"))
        assert no_root.returncode != 0 and "root-password" in no_root.stderr
        wrong_root = tmp_path / "wrong-root"
        wrong_root.write_text("not the root password")
        refused = createadmin("--endpoint", base, "--root-password-file", str(wrong_root), "--name", "eve")
        assert refused.returncode != 0 and "authentication failed" in refused.stderr
        status, listed = ops("POST", "/api/v1/auth/login", {"username": "ops", "password": "a brand new password"})
        ops.csrf = listed["csrf_token"]
        names = [u["name"] for u in ops("GET", "/api/v1/users")[1]["results"]]
        assert names == ["admin", "ops"], "nothing was created by the refused calls"
        entries = ops("GET", "/api/v1/audit?action=user.create")[1]["results"]
        assert any(e["target"] == "ops" and e["actor"] == "root" and e["address"] == "manage.py createadmin"
                   for e in entries), json.dumps(entries)
    finally:
        code, _, stderr = stop(process)
    assert code == 0, stderr


def verifyaudit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", "verifyaudit", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env=node_env())


def test_verifyaudit_passes_intact_chains_and_names_a_forged_entry(tmp_path):
    import asyncio

    from config_center.store import keys, records
    from config_center.store.etcd_http import EtcdHttpClient
    from consensus.mvcc.api import PutRequest

    process, base = serve(tmp_path)
    try:
        made = createadmin("--endpoint", base, "--data-dir", str(tmp_path), "--name", "ops")
        assert made.returncode == 0, made.stderr
        intact = verifyaudit("--endpoint", base, "--data-dir", str(tmp_path))
        assert intact.returncode == 0, intact.stdout + intact.stderr
        assert "ok      _global (2 entries)" in intact.stdout  # the first admin, then ops

        async def forge():
            client = await EtcdHttpClient.login(base, "root", (tmp_path / "root-password").read_text().strip())
            key = keys.audit_entry("_global", 2)
            entry = records.decode((await records.get(client, key)).value)
            entry["actor"] = "someone else"
            await client.put(PutRequest(key=key, value=records.encode(entry)))

        asyncio.run(forge())
        broken = verifyaudit("--endpoint", base, "--data-dir", str(tmp_path), "--chain", "_global")
        assert broken.returncode != 0
        assert "BROKEN  _global" in broken.stdout and "entry 000000000002" in broken.stdout
        assert "1 of 1 audit chain(s) failed" in broken.stderr
    finally:
        code, _, stderr = stop(process)
    assert code == 0, stderr
