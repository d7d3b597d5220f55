"""Compaction (logical at once, physical in deterministic batches) and
HashKV."""
import sqlite3

import pytest

from consensus.mvcc.api import CompactedError, FutureRevisionError, Limits, NoSpaceError
from consensus.mvcc.revision import Revision

from .store_support import Log


@pytest.fixture
def log(tmp_path):
    log = Log(tmp_path / "store.db")
    yield log
    log.close()


def stored(log: Log) -> list[tuple[bytes, int, int, bool]]:
    """Every row in the database: (key, main, sub, tombstone)."""
    conn = sqlite3.connect(log.path)
    try:
        rows = conn.execute("SELECT rev, key, tombstone FROM kv ORDER BY rev").fetchall()
    finally:
        conn.close()
    return [(key, Revision.from_bytes(rev).main, Revision.from_bytes(rev).sub, bool(t)) for rev, key, t in rows]


def history_scenario(log: Log) -> None:
    """a@2 a@3 b@4 a@5 del b@6 c@7 (revision 7)."""
    log.put(b"a", b"1")
    log.put(b"a", b"2")
    log.put(b"b", b"1")
    log.put(b"a", b"3")
    log.delete(b"b")
    log.put(b"c", b"1")


def test_compaction_keeps_the_latest_version_of_each_live_key(log):
    history_scenario(log)
    resp = log.compact(5, physical=True)
    assert resp.header.revision == 7 and log.sm.revision == 7 and log.sm.compact_revision == 5
    # a@2, a@3 superseded by a@5; b@4 was current at 5 (deleted only at 6).
    assert stored(log) == [(b"b", 4, 0, False), (b"a", 5, 0, False), (b"b", 6, 0, True), (b"c", 7, 0, False)]
    assert log.get(b"a", revision=5).value == b"3"
    assert log.all(revision=5).keys() == {b"a", b"b"}


def test_kept_row_of_a_key_deleted_later_stays_until_compacted_past_the_delete(log):
    history_scenario(log)
    log.compact(5, physical=True)
    # b@4 was current at 5, so it is kept; its tombstone at 6 is above 5.
    assert log.get(b"b", revision=5).value == b"1"
    log.compact(6, physical=True)
    # The tombstone at the compact revision stays (watches may start there)...
    assert [r[:2] for r in stored(log)] == [(b"a", 5), (b"b", 6), (b"c", 7)]
    assert log.get(b"b", revision=6) is None
    log.compact(7, physical=True)
    # ...until the next compaction.
    assert [r[:2] for r in stored(log)] == [(b"a", 5), (b"c", 7)]


def test_reads_below_the_compact_revision_fail_with_it(log):
    history_scenario(log)
    log.compact(4)
    for rev in (1, 2, 3):
        with pytest.raises(CompactedError) as e:
            log.range(b"a", revision=rev)
        assert e.value.compact_revision == 4
    assert log.get(b"a", revision=4).value == b"2"


def test_a_deleted_then_compacted_key_disappears(log):
    history_scenario(log)
    log.compact(7, physical=True)
    assert log.sm._store.index.key_index(b"b") is None
    assert all(key != b"b" for key, *_ in stored(log))
    assert log.all().keys() == {b"a", b"c"}
    log.put(b"b", b"again")
    assert log.get(b"b").create_revision == 8 and log.get(b"b").version == 1


def test_compaction_errors_are_etcds(log):
    history_scenario(log)
    with pytest.raises(FutureRevisionError):
        log.compact(8)
    log.compact(3)
    with pytest.raises(CompactedError):
        log.compact(3)
    with pytest.raises(CompactedError):
        log.compact(2)
    assert log.sm.compact_revision == 3
    log.compact(7)  # the current revision is allowed
    assert log.sm.revision == 7  # compaction takes no revision


def test_physical_deletion_proceeds_in_batches_over_later_applies(tmp_path):
    log = Log(tmp_path / "s.db", compaction_batch=10)
    for i in range(60):
        log.put(b"k", b"%d" % i)
    rows_before = len(stored(log))
    log.compact(61)
    sizes = [len(stored(log))]
    for i in range(8):
        log.put(b"other%d" % i)
        sizes.append(len(stored(log)) - (i + 1))
    # Each apply examined 10 rows: 10 garbage rows gone per apply, until only
    # the kept one remains.
    assert rows_before == 60
    assert sizes[:7] == [50, 40, 30, 20, 10, 1, 1]
    assert log.sm._meta.scheduled_compaction == -1
    assert log.get(b"k").value == b"59" and log.get(b"k", revision=61).version == 60
    log.close()


def test_hash_does_not_depend_on_physical_progress(tmp_path):
    slow = Log(tmp_path / "slow.db", compaction_batch=3)
    fast = Log(tmp_path / "fast.db", compaction_batch=1000)
    for store in (slow, fast):
        for i in range(30):
            store.put(b"k%d" % (i % 4), b"%d" % i)
            if i % 7 == 6:
                store.delete(b"k%d" % (i % 3))
        store.compact(25)
    assert slow.sm._meta.scheduled_compaction >= 0 and fast.sm._meta.scheduled_compaction == -1
    assert slow.sm.hash_kv().hash == fast.sm.hash_kv().hash
    assert slow.sm.history(b"\0", b"\0", 25) == fast.sm.history(b"\0", b"\0", 25)
    slow.close()
    fast.close()


def test_pending_compaction_survives_a_restart_and_finishes(tmp_path):
    log = Log(tmp_path / "s.db", compaction_batch=5)
    ref = Log(tmp_path / "ref.db")
    for store in (log, ref):
        for i in range(40):
            store.put(b"k%d" % (i % 3), b"%d" % i)
        store.compact(35)
        store.put(b"x")
    assert log.sm._meta.scheduled_compaction == 35
    log.reopen()
    assert log.sm._meta.scheduled_compaction == 35
    assert log.sm.hash_kv().hash == ref.sm.hash_kv().hash
    assert log.all() == ref.all()
    for i in range(10):
        log.put(b"y%d" % i)
        ref.put(b"y%d" % i)
    assert log.sm._meta.scheduled_compaction == -1
    assert stored(log) == stored(ref)
    assert log.sm.stored_bytes == ref.sm.stored_bytes
    log.close()
    ref.close()


def test_new_compaction_while_one_is_pending(tmp_path):
    log = Log(tmp_path / "s.db", compaction_batch=4)
    for i in range(30):
        log.put(b"k%d" % (i % 2), b"%d" % i)
    log.compact(10)
    log.compact(31)
    for i in range(20):
        log.put(b"z%d" % i)
    assert [(k, m) for k, m, _, _ in stored(log) if not k.startswith(b"z")] == [(b"k0", 30), (b"k1", 31)]
    log.close()


def test_compaction_frees_quota_space(tmp_path):
    log = Log(tmp_path / "s.db", limits=Limits(quota_backend_bytes=20_000), compaction_batch=1)
    n = 0
    with pytest.raises(NoSpaceError):
        while True:
            log.put(b"k%d" % (n % 5), b"x" * 500)
            n += 1
    assert 20 < n < 40
    full = log.sm.stored_bytes
    log.delete(b"k0")  # deletes are still allowed
    log.compact(log.sm.revision)  # and compaction
    # Space comes back batch by batch, one batch per apply (refused ones too).
    refused = 0
    while True:
        try:
            log.put(b"k1", b"y" * 3000)
            break
        except NoSpaceError:
            refused += 1
    assert refused >= 1
    assert log.sm.stored_bytes < full
    assert log.get(b"k1").value == b"y" * 3000
    log.close()


def test_physical_compaction_gives_pages_back(tmp_path):
    log = Log(tmp_path / "s.db", compaction_batch=100_000)
    for i in range(3000):
        log.put(b"k%d" % (i % 10), b"x" * 1000)
    log.sm._backend.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    big = log.path.stat().st_size
    log.compact(log.sm.revision, physical=True)
    for _ in range(50):
        log.put(b"a")  # each apply returns some free pages
    log.sm._backend.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert log.path.stat().st_size < big / 4
    log.close()


# -- hash ---------------------------------------------------------------------------------------


def test_hash_equal_for_the_same_requests_and_different_otherwise(tmp_path):
    a, b, c = (Log(tmp_path / f"{n}.db") for n in "abc")
    for store in (a, b, c):
        history_scenario(store)
    c.put(b"c", b"different")
    b.put(b"c", b"different")
    a.put(b"c", b"other")
    assert b.sm.hash_kv().hash == c.sm.hash_kv().hash
    assert a.sm.hash_kv().hash != b.sm.hash_kv().hash
    assert a.sm.hash_kv(7).hash == b.sm.hash_kv(7).hash  # equal up to revision 7
    for store in (a, b, c):
        store.close()


def test_hash_kv_revision_checks_and_compact_revision(log):
    history_scenario(log)
    assert log.sm.hash_kv().compact_revision == -1  # etcd reports -1 before any compaction
    log.compact(4)
    resp = log.sm.hash_kv()
    assert resp.compact_revision == 4 and resp.header.revision == 7
    with pytest.raises(CompactedError):
        log.sm.hash_kv(4)
    with pytest.raises(FutureRevisionError):
        log.sm.hash_kv(8)
    assert log.sm.hash_kv(5).hash != log.sm.hash_kv(7).hash
