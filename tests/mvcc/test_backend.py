"""The backend's buffered inserts: rows reach SQLite in one executemany, yet
every statement sees them, and a rollback drops them."""
from consensus.mvcc import backend as backend_module
from consensus.mvcc.api import KeyValue
from consensus.mvcc.backend import Backend
from consensus.mvcc.revision import pack


def kv(main: int, key: bytes = b"k") -> KeyValue:
    return KeyValue(key, main, main, 1, b"value %d" % main, 0)


def test_buffered_rows_are_seen_by_every_later_statement(tmp_path):
    b = Backend.open(tmp_path / "s.db")
    b.begin()
    b.insert(pack(2), kv(2), False)
    b.insert(pack(3), kv(3), False)
    assert b.fetch([pack(3), pack(2)]) == [kv(3), kv(2)]  # a read inside the transaction sees them
    b.insert(pack(4), kv(4), True)
    assert [r.rev for r in b.rows(0, pack(5))] == [pack(2), pack(3), pack(4)]
    b.insert(pack(5), kv(5), False)
    b.commit()
    assert [r.rev for r in b.rows(0, pack(6))] == [pack(2), pack(3), pack(4), pack(5)]
    b.close()
    b = Backend.open(tmp_path / "s.db")
    assert b.fetch([pack(5)]) == [kv(5)]  # the last one, sent by the commit, is durable
    b.close()


def test_a_rollback_drops_buffered_rows(tmp_path):
    b = Backend.open(tmp_path / "s.db")
    b.begin()
    b.insert(pack(2), kv(2), False)
    b.rollback()
    b.begin()
    b.insert(pack(3), kv(3), False)
    b.commit()
    assert [r.rev for r in b.rows(0, pack(10))] == [pack(3)]
    b.close()


def test_a_full_buffer_is_sent_without_waiting(tmp_path, monkeypatch):
    monkeypatch.setattr(backend_module, "_INSERT_BUFFER", 4)
    b = Backend.open(tmp_path / "s.db")
    b.begin()
    for main in range(2, 11):
        b.insert(pack(main), kv(main, b"k%d" % main), False)
    assert len(b._inserts) == 1  # two full buffers of 4 went to SQLite as they filled
    assert b._conn.execute("SELECT COUNT(*) FROM kv").fetchone()[0] == 8
    b.commit()
    assert b.conn.execute("SELECT COUNT(*) FROM kv").fetchone()[0] == 9
    b.close()


def _sql_rows(b: Backend) -> int:
    return b.conn.execute("SELECT COUNT(*) FROM kv").fetchone()[0]


def test_committed_rows_are_served_from_the_row_cache(tmp_path):
    b = Backend.open(tmp_path / "s.db")
    b.begin()
    b.insert(pack(2), kv(2), False)
    b.insert(pack(3), kv(3), True)  # a tombstone is never fetched: not cached
    b.commit()
    assert len(b._rows) == 1
    # Remove the row behind the cache's back: the cache answers.
    b.conn.execute("DELETE FROM kv WHERE rev = ?", (backend_module.to_bytes(pack(2)),))
    assert b.fetch([pack(2)]) == [kv(2)]


def test_rolled_back_and_deleted_rows_never_reach_the_cache(tmp_path):
    b = Backend.open(tmp_path / "s.db")
    b.begin()
    b.insert(pack(2), kv(2), False)
    b.rollback()
    assert len(b._rows) == 0
    b.begin()
    b.insert(pack(3), kv(3), False)
    b.insert(pack(4), kv(4), False)
    b.delete([pack(3)])  # deleted again by the same transaction
    b.commit()
    b.begin()
    b.delete([pack(4)])  # compaction later
    b.commit()
    assert len(b._rows) == 0 and _sql_rows(b) == 0


def test_rows_read_outside_a_transaction_are_cached_and_the_cache_is_bounded(tmp_path):
    b = Backend.open(tmp_path / "s.db")
    b.begin()
    for main in range(2, 40):
        b.insert(pack(main), kv(main), False)
    b.commit()
    b.close()
    b = Backend(backend_module.sqlite3.connect(tmp_path / "s.db", isolation_level=None), tmp_path / "s.db",
                row_cache_bytes=2000)
    assert b.fetch([pack(m) for m in range(2, 40)]) == [kv(m) for m in range(2, 40)]
    assert 0 < len(b._rows) < 38, "bounded: the oldest rows went out"
    assert b._rows._bytes <= 2000
    assert b.fetch([pack(39), pack(2)]) == [kv(39), kv(2)]


def test_a_restore_empties_the_row_cache(tmp_path):
    source = Backend.open(tmp_path / "a.db")
    source.begin()
    source.insert(pack(2), KeyValue(b"k", 2, 2, 1, b"from the snapshot", 0), False)
    source.commit()
    snapshot = source.snapshot()
    b = Backend.open(tmp_path / "b.db")
    b.begin()
    b.insert(pack(2), kv(2), False)
    b.commit()
    b.restore(snapshot)
    assert len(b._rows) == 0
    assert b.fetch([pack(2)])[0].value == b"from the snapshot"
