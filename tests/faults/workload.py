"""Concurrent clients against a ``ProcessCluster``, recording a history.

Each client is a thread with keep-alive connections. It picks a member, a
key and an operation at random — put, linearizable get, delete, or
compare-and-set (a txn comparing the value, or absence, then putting) — and
records the invocation and the outcome in a ``Recorder``:

- an answer the client can trust (200) is OK, with what it read;
- anything that cannot have taken effect (a 4xx refusal of the request
  itself) is FAIL;
- everything else — 5xx (no leader, timed out), a lost connection, a
  timeout — is UNKNOWN: the write may still commit later, and the checker
  must allow for it.

On an error the client moves to another member, like a real etcd client.
It also records the header revision of every OK answer, to check that no
client ever sees revisions go backwards.
"""
from __future__ import annotations

import base64
import http.client
import random
import threading
import time
from dataclasses import dataclass, field

from .cluster import Client, ProcessCluster, b64
from .linearizability import Recorder, Status


def _value_of(kvs: list[dict] | None) -> str | None:
    if not kvs:
        return None
    return base64.b64decode(kvs[0].get("value", "")).decode()


@dataclass
class ClientLog:
    revisions: list[int] = field(default_factory=list)  # header revisions of OK answers, in order
    ok: int = 0
    unknown: int = 0
    failed: int = 0


class Workload:
    def __init__(self, cluster: ProcessCluster, *, clients: int = 8, keys: int = 10, seed: int = 0,
                 request_timeout: float = 5.0) -> None:
        self.cluster = cluster
        self.recorder = Recorder()
        self.keys = [f"k{i}" for i in range(keys)]
        self.clients = clients
        self.seed = seed
        self.request_timeout = request_timeout
        self.logs = [ClientLog() for _ in range(clients)]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.clients):
            thread = threading.Thread(target=self._run, args=(i,), name=f"client-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.request_timeout + 10)

    @property
    def completed(self) -> int:
        return sum(log.ok + log.unknown + log.failed for log in self.logs)

    def _run(self, client_id: int) -> None:
        rng = random.Random(f"{self.seed}-{client_id}")
        log = self.logs[client_id]
        member_index = rng.randrange(len(self.cluster.members))
        conns: dict[int, Client] = {}
        seq = 0
        while not self._stop.is_set():
            member = self.cluster.members[member_index]
            if not member.alive or member.paused:
                # Clients of a dead member notice by timing out; skip ahead
                # rather than spend the run in connection errors.
                member_index = (member_index + 1) % len(self.cluster.members)
                time.sleep(0.01)
                continue
            conn = conns.setdefault(member_index, Client(member.client_port, self.request_timeout))
            key = rng.choice(self.keys)
            roll = rng.random()
            seq += 1
            value = f"c{client_id}-{seq}"
            try:
                if roll < 0.35:
                    ok = self._put(conn, client_id, key, value, log)
                elif roll < 0.7:
                    ok = self._get(conn, client_id, key, log)
                elif roll < 0.8:
                    ok = self._delete(conn, client_id, key, log)
                else:
                    expected = None if rng.random() < 0.2 else f"c{rng.randrange(self.clients)}-{rng.randrange(1, seq + 1)}"
                    if rng.random() < 0.5:
                        # Compare against a value that is likely current: read it first.
                        expected = self._peek(conn, key)
                    ok = self._cas(conn, client_id, key, expected, value, log)
            except _Unavailable:
                ok = False
            if not ok:
                conn.close()
                member_index = (member_index + 1) % len(self.cluster.members)
        for conn in conns.values():
            conn.close()

    # -- operations -------------------------------------------------------------------------

    def _call(self, conn: Client, handle: int, path: str, body: dict, log: ClientLog):
        """(OK body | None). Records UNKNOWN/FAIL itself when there is no OK body."""
        try:
            status, answer = conn.call(path, body)
        except (OSError, http.client.HTTPException, ValueError):
            self.recorder.complete(handle, Status.UNKNOWN)
            log.unknown += 1
            return None
        if status == 200:
            log.ok += 1
            revision = int(answer.get("header", {}).get("revision", 0))
            if revision:
                log.revisions.append(revision)
            return answer
        if 400 <= status < 500:
            self.recorder.complete(handle, Status.FAIL)
            log.failed += 1
            return None
        self.recorder.complete(handle, Status.UNKNOWN)
        log.unknown += 1
        return None

    def _put(self, conn, client_id, key, value, log) -> bool:
        handle = self.recorder.invoke(client_id, key, "put", value=value)
        answer = self._call(conn, handle, "/v3/kv/put", {"key": b64(key), "value": b64(value)}, log)
        if answer is None:
            return False
        self.recorder.complete(handle, Status.OK)
        return True

    def _get(self, conn, client_id, key, log) -> bool:
        handle = self.recorder.invoke(client_id, key, "get")
        answer = self._call(conn, handle, "/v3/kv/range", {"key": b64(key)}, log)
        if answer is None:
            return False
        self.recorder.complete(handle, Status.OK, _value_of(answer.get("kvs")))
        return True

    def _delete(self, conn, client_id, key, log) -> bool:
        handle = self.recorder.invoke(client_id, key, "delete")
        answer = self._call(conn, handle, "/v3/kv/deleterange", {"key": b64(key)}, log)
        if answer is None:
            return False
        self.recorder.complete(handle, Status.OK)
        return True

    def _cas(self, conn, client_id, key, expected, value, log) -> bool:
        handle = self.recorder.invoke(client_id, key, "cas", value=value, expected=expected)
        if expected is None:
            compare = {"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
        else:
            compare = {"key": b64(key), "target": "VALUE", "result": "EQUAL", "value": b64(expected)}
        body = {"compare": [compare], "success": [{"request_put": {"key": b64(key), "value": b64(value)}}]}
        answer = self._call(conn, handle, "/v3/kv/txn", body, log)
        if answer is None:
            return False
        self.recorder.complete(handle, Status.OK, bool(answer.get("succeeded", False)))
        return True

    def _peek(self, conn: Client, key: str) -> str | None:
        """A serializable read, not recorded: only to choose a likely value."""
        try:
            status, answer = conn.call("/v3/kv/range", {"key": b64(key), "serializable": True})
        except (OSError, http.client.HTTPException, ValueError):
            raise _Unavailable() from None
        if status != 200:
            raise _Unavailable()
        return _value_of(answer.get("kvs"))

    # -- after the run -------------------------------------------------------------------------

    def final_reads(self, client_id: int | None = None) -> None:
        """A linearizable read of every key through the leader, recorded, so
        that every acknowledged write must be accounted for by the end state."""
        client_id = self.clients if client_id is None else client_id
        leader = self.cluster.wait_for_leader()
        conn = Client(leader.client_port, 10.0)
        log = ClientLog()
        for key in self.keys:
            for _ in range(20):
                handle = self.recorder.invoke(client_id, key, "get")
                answer = self._call(conn, handle, "/v3/kv/range", {"key": b64(key)}, log)
                if answer is not None:
                    self.recorder.complete(handle, Status.OK, _value_of(answer.get("kvs")))
                    break
                time.sleep(0.5)
            else:
                raise AssertionError(f"could not read {key} at the end of the run")
        conn.close()

    def revisions_never_went_backwards(self) -> list[str]:
        problems = []
        for i, log in enumerate(self.logs):
            for before, after in zip(log.revisions, log.revisions[1:]):
                if after < before:
                    problems.append(f"client {i} saw revision {after} after {before}")
                    break
        return problems


class _Unavailable(Exception):
    pass
