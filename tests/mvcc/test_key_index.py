"""KeyIndex and TreeIndex: generations, tombstones, reads at a revision,
compaction, and loud failure on out-of-order revisions."""
import pytest

from consensus.mvcc.key_index import KeyIndex, RevisionOrderError
from consensus.mvcc.revision import Revision, from_bytes, pack, to_bytes
from consensus.mvcc.tree_index import TreeIndex, range_end_of


def r(main: int, sub: int = 0) -> int:
    return pack(main, sub)


def docstring_example() -> KeyIndex:
    """The worked example of key_index.py's docstring."""
    ki = KeyIndex(b"foo")
    ki.put(r(1))
    ki.put(r(2))
    ki.put(r(3))
    ki.tombstone(r(4))
    ki.put(r(5))
    ki.put(r(6))
    ki.tombstone(r(7))
    ki.put(r(8))
    return ki


def revs(ki: KeyIndex) -> list[list[tuple[int, int]]]:
    return [[(Revision.unpack(x).main, Revision.unpack(x).sub) for x in g.revs] for g in ki.generations]


def test_revision_encodings_preserve_order():
    pairs = [(0, 0), (1, 0), (1, 1), (1, 255), (1, 256), (2, 0), (255, 7), (256, 0), (1 << 40, 3)]
    packed = [pack(m, s) for m, s in pairs]
    assert packed == sorted(packed)
    encoded = [to_bytes(p) for p in packed]
    assert encoded == sorted(encoded)
    assert [from_bytes(b) for b in encoded] == packed
    assert Revision(7, 2).to_bytes() == to_bytes(pack(7, 2))
    assert Revision.from_bytes(Revision(7, 2).to_bytes()) == Revision(7, 2)
    assert Revision(1, 5) < Revision(2, 0)
    with pytest.raises(ValueError):
        Revision(-1)


def test_docstring_example_generations_and_versions():
    ki = docstring_example()
    assert revs(ki) == [[(1, 0), (2, 0), (3, 0), (4, 0)], [(5, 0), (6, 0), (7, 0)], [(8, 0)]]
    assert [(g.created, g.version) for g in ki.generations] == [(1, 4), (5, 3), (8, 1)]
    # (modified, created, version) at each revision
    assert ki.get(0) is None
    assert ki.get(1) == (r(1), 1, 1)
    assert ki.get(3) == (r(3), 1, 3)
    assert ki.get(4) is None  # deleted at 4
    assert ki.get(5) == (r(5), 5, 1)
    assert ki.get(6) == (r(6), 5, 2)
    assert ki.get(7) is None
    assert ki.get(8) == (r(8), 8, 1)
    assert ki.get(100) == (r(8), 8, 1)


def test_docstring_example_compaction_steps():
    ki = docstring_example()
    ki.compact(2)
    assert revs(ki)[0] == [(2, 0), (3, 0), (4, 0)]
    assert ki.generations[0].version == 4  # versions of what remains unchanged
    assert ki.get(3) == (r(3), 1, 3)
    ki.compact(4)
    assert revs(ki) == [[(5, 0), (6, 0), (7, 0)], [(8, 0)]]
    ki.compact(6)
    assert revs(ki) == [[(6, 0), (7, 0)], [(8, 0)]]
    assert ki.get(6) == (r(6), 5, 2)
    ki.compact(7)
    assert revs(ki) == [[(8, 0)]]
    assert not ki.is_empty()
    ki.compact(3)  # older than done already: nothing changes
    assert revs(ki) == [[(8, 0)]]


def test_kept_at_is_the_revision_current_at_the_compact_revision():
    ki = docstring_example()
    assert ki.kept_at(0) is None
    assert ki.kept_at(1) == r(1)
    assert ki.kept_at(3) == r(3)
    assert ki.kept_at(4) is None  # tombstone: nothing kept
    assert ki.kept_at(6) == r(6)
    assert ki.kept_at(7) is None
    assert ki.kept_at(9) == r(8)
    ki.compact(6)
    assert ki.kept_at(6) == r(6)  # same answer after compacting there


def test_compacting_a_deleted_key_leaves_it_empty():
    ki = KeyIndex(b"k")
    ki.put(r(2))
    ki.tombstone(r(3))
    ki.compact(2)
    assert not ki.is_empty()
    ki.compact(3)
    assert ki.is_empty()


def test_same_main_revision_put_then_tombstone_and_tombstone_then_put():
    a = KeyIndex(b"a")
    a.put(r(5, 0))
    a.tombstone(r(5, 1))
    assert a.get(5) is None and a.get(4) is None
    b = KeyIndex(b"b")
    b.put(r(3))
    b.tombstone(r(5, 0))
    b.put(r(5, 1))
    assert b.get(5) == (r(5, 1), 5, 1)
    assert b.get(4) == (r(3), 3, 1)


@pytest.mark.parametrize("bad", [r(3), r(2), r(2, 9)])
def test_out_of_order_revisions_raise(bad):
    ki = KeyIndex(b"k")
    ki.put(r(3))
    with pytest.raises(RevisionOrderError):
        ki.put(bad)
    with pytest.raises(RevisionOrderError):
        ki.tombstone(bad)


def test_tombstone_of_a_missing_key_raises():
    ki = KeyIndex(b"k")
    with pytest.raises(RevisionOrderError):
        ki.tombstone(r(1))
    ki.put(r(2))
    ki.tombstone(r(3))
    with pytest.raises(RevisionOrderError):
        ki.tombstone(r(4))


def test_restore_checks_stored_versions():
    ki = KeyIndex(b"k")
    ki.restore(r(5), created=2, version=3)  # revisions 2..4 compacted away
    ki.restore(r(6), created=2, version=4)
    assert ki.get(6) == (r(6), 2, 4)
    with pytest.raises(RevisionOrderError):
        ki.restore(r(7), created=2, version=9)


def test_tree_index_ranges():
    t = TreeIndex()
    for i, key in enumerate([b"a", b"ab", b"b", b"c"], start=2):
        t.put(key, r(i))
    t.tombstone(b"b", r(6))
    at = lambda key, end, rev: [k for k, _ in t.revisions(key, range_end_of(end), rev)]  # noqa: E731
    assert at(b"a", b"", 10) == [b"a"]
    assert at(b"a", b"b", 10) == [b"a", b"ab"]
    assert at(b"a", b"\0", 10) == [b"a", b"ab", b"c"]
    assert at(b"a", b"\0", 5) == [b"a", b"ab", b"b", b"c"]
    assert at(b"\0", b"\0", 3) == [b"a", b"ab"]
    assert at(b"c", b"a", 10) == []  # end before start
    assert at(b"zz", b"", 10) == []
