"""The scenarios of the etcd3gw acceptance test, through aetcd (a Python
gRPC client from PyPI, 1.0.0): put/get/delete/prefix, txn, lease, watch,
lock. Run as its own process by ``test_aetcd``: aetcd carries its own copy
of etcd's protos, and protobuf's descriptor pool refuses two definitions
of ``etcdserverpb`` in one process, which the test process already holds.

Usage: ``python -m tests.grpc.aetcd_scenario HOST PORT [USER PASSWORD]``;
prints one line per scenario passed, exits 1 on the first that fails.
"""
from __future__ import annotations

import asyncio
import sys

import aetcd


async def put_get_delete_and_prefix(client: aetcd.Client) -> None:
    await client.put(b"cfg/app/a", b"1")
    await client.put(b"cfg/app/b", b"\x00\xff")
    await client.put(b"cfg/other", b"x")
    got = await client.get(b"cfg/app/a")
    assert got.value == b"1" and got.version == 1 and got.mod_revision > 0, got
    assert await client.get(b"cfg/none") is None
    pairs = await client.get_prefix(b"cfg/app/")
    assert [(kv.key, kv.value) for kv in pairs] == [(b"cfg/app/a", b"1"), (b"cfg/app/b", b"\x00\xff")]
    deleted = await client.delete(b"cfg/app/a", prev_kv=True)
    assert deleted.deleted == 1 and deleted.prev_kv.value == b"1", deleted
    assert await client.delete(b"cfg/app/a") is None  # aetcd: None when nothing was deleted
    assert (await client.delete_prefix(b"cfg/")).deleted == 2
    assert not await client.get_prefix(b"cfg/")


async def transaction(client: aetcd.Client) -> None:
    await client.put(b"txn/k", b"v1")
    t = client.transactions
    succeeded, responses = await client.transaction(
        compare=[t.value(b"txn/k") == b"v1", t.version(b"txn/k") > 0],
        success=[t.put(b"txn/k", b"v2"), t.get(b"txn/k")],
        failure=[t.put(b"txn/k", b"never")],
    )
    assert succeeded is True and responses[1][0][0] == b"v2", responses
    succeeded, _ = await client.transaction(compare=[t.value(b"txn/k") == b"v1"], success=[],
                                            failure=[t.delete(b"txn/k")])
    assert succeeded is False and await client.get(b"txn/k") is None


async def lease(client: aetcd.Client) -> None:
    granted = await client.lease(30)
    assert granted.id > 0 and granted.ttl == 30
    await client.put(b"svc/instance-1", b"10.0.0.1", lease=granted)
    refreshed = await granted.refresh()
    assert refreshed.TTL == 30, refreshed
    assert 25 <= await granted.remaining_ttl() <= 30
    assert await granted.keys() == [b"svc/instance-1"]
    await granted.revoke()
    assert await client.get(b"svc/instance-1") is None
    assert await granted.remaining_ttl() == -1


async def watch(client: aetcd.Client, other: aetcd.Client) -> None:
    events = await client.watch_prefix(b"watched/", prev_kv=True)
    await asyncio.sleep(0.2)
    await other.put(b"watched/key", b"1")
    await other.put(b"watched/key", b"2")
    await other.delete(b"watched/key")
    seen = []
    async with asyncio.timeout(10):
        async for event in events:
            seen.append((event.kind, event.kv.key, event.kv.value, event.prev_kv.value))
            if len(seen) == 3:
                break
    await events.cancel()
    assert seen == [
        (aetcd.EventKind.PUT, b"watched/key", b"1", b""),  # aetcd: an empty prev_kv when there was none
        (aetcd.EventKind.PUT, b"watched/key", b"2", b"1"),
        (aetcd.EventKind.DELETE, b"watched/key", b"", b"2"),
    ], seen


async def lock(client: aetcd.Client, other: aetcd.Client) -> None:
    first = client.lock(b"locks/job", ttl=10)
    second = other.lock(b"locks/job", ttl=10)
    await first.acquire()
    assert await first.is_acquired()
    assert not await second.acquire(timeout=1)
    await first.release()
    assert await second.acquire(timeout=5)
    await second.release()


async def main(host: str, port: int, user: str | None, password: str | None) -> None:
    options = {"username": user, "password": password} if user else {}
    async with aetcd.Client(host, port, timeout=10, **options) as client, \
            aetcd.Client(host, port, timeout=10, **options) as other:
        for scenario in (put_get_delete_and_prefix, transaction, lease):
            await scenario(client)
            print(scenario.__name__, "passed", flush=True)
        for scenario in (watch, lock):
            await scenario(client, other)
            print(scenario.__name__, "passed", flush=True)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    asyncio.run(main(arguments[0], int(arguments[1]), *(arguments[2:4] or (None, None))))
