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
