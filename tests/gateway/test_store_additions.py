"""What the gateway added to ``ReplicatedStore``, on a whole member
in-process: ``hash`` / ``hash_kv`` / ``header``, and a keep-alive that
arrives after this member won its election but before its lease clock was
promoted (it raised the clock's ``RuntimeError`` before)."""
import pytest

from consensus.mvcc.api import (
    CompactedError,
    CompactionRequest,
    FutureRevisionError,
    HashKVRequest,
    LeaseGrantRequest,
    LeaseKeepAliveRequest,
    PutRequest,
)
from tests.node.member_support import run, start, stop



def test_a_keepalive_before_the_lease_clock_was_promoted(tmp_path):
    async def body():
        task, store = await start(tmp_path)
        try:
            lease = await store.lease_grant(LeaseGrantRequest(TTL=30))
            # The state between winning the election and the lease loop's
            # next check: leader, clock not promoted yet.
            store.clock.demote()
            response = await store.lease_keepalive(LeaseKeepAliveRequest(ID=lease.ID))
            assert (response.ID, response.TTL) == (lease.ID, 30)
            assert store.clock.is_leader
        finally:
            await stop(task)

    run(body())


def test_hash_hash_kv_and_header(tmp_path):
    async def body():
        task, store = await start(tmp_path)
        try:
            first = await store.put(PutRequest(key=b"a", value=b"1"))
            at_first = await store.hash_kv(HashKVRequest(revision=first.header.revision))
            now = await store.hash()
            assert now.hash == at_first.hash and now.header.revision == first.header.revision
            second = await store.put(PutRequest(key=b"a", value=b"2"))
            assert (await store.hash()).hash != at_first.hash
            assert (await store.hash_kv(HashKVRequest(revision=first.header.revision))).hash == at_first.hash
            with pytest.raises(FutureRevisionError):
                await store.hash_kv(HashKVRequest(revision=second.header.revision + 1))
            await store.compact(CompactionRequest(revision=second.header.revision))
            with pytest.raises(CompactedError):
                await store.hash_kv(HashKVRequest(revision=first.header.revision))
            header = store.header()
            status = store.node.status()
            assert (header.member_id, header.raft_term, header.revision) == (
                status.id, status.term, second.header.revision)
        finally:
            await stop(task)

    run(body())
