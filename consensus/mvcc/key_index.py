"""The revisions of one key: generations and tombstones (after etcd's
``keyIndex``).

A key lives, dies and may live again. Each life is a *generation*: the
revisions at which the key was written, from the put that created it to the
delete that ended it. The delete is recorded as a *tombstone* — the last
revision of a finished generation — and an empty generation is opened after
it, waiting for the key to be created again.

Worked example
--------------
Key ``foo`` is put at revisions 1.0, 2.0 and 3.0 (main.sub), deleted at
4.0, put again at 5.0 and 6.0, deleted at 7.0, and put at 8.0::

    generations:
      {created 1, version 4, revs [1.0, 2.0, 3.0, 4.0(t)]}
      {created 5, version 3, revs [5.0, 6.0, 7.0(t)]}
      {created 8, version 1, revs [8.0]}

``version`` counts every revision of the generation, the tombstone included,
so the version of the key *at* a revision is ``version`` minus the revisions
that come after it: at revision 6, ``foo`` is ``6.0`` of a generation created
at 5 with version 3 - 1 = 2. At revision 4 or 7 the key does not exist (the
generation holding that revision ended there); before revision 1 neither.

Compaction at revision ``C`` keeps, for each key, the revision that was
current at ``C`` and everything after it, and drops the rest:

- compact(2): the first generation becomes ``[2.0, 3.0, 4.0(t)]`` — 1.0 was
  superseded by 2.0 before revision 2. ``version`` stays 4: versions of the
  remaining revisions do not change.
- compact(4): the first generation ended at 4 (its tombstone is at or below
  the compact revision), so nothing of it is visible at 4 or later: it is
  dropped whole, tombstone included. What remains starts at 5.0.
- compact(6): the second generation becomes ``[6.0, 7.0(t)]``.
- compact(7): the second generation ends at 7 and goes; ``[8.0]`` remains.

A key index whose only generation is empty has no visible revision left and
is removed from the tree by its owner.

Revisions are packed ints (``revision.pack``); they must arrive strictly
increasing. Anything else means the store applied out of order, so it raises
``RevisionOrderError`` at once.
"""
from __future__ import annotations

from bisect import bisect_right

from .revision import Revision, last_of_main, main_of


class RevisionOrderError(RuntimeError):
    """A revision arrived out of order, or a tombstone for a key that does not
    exist: the store's history would be corrupt if it were recorded."""


class Generation:
    """One life of a key. ``revs`` are packed revisions in increasing order,
    the last one a tombstone unless this is the key's current generation.
    ``created`` is the main revision of the put that created the key;
    ``version`` the number of revisions written in this life (also those
    compacted away)."""

    __slots__ = ("created", "version", "revs")

    def __init__(self, created: int = 0, version: int = 0, revs: list[int] | None = None) -> None:
        self.created = created
        self.version = version
        self.revs: list[int] = revs if revs is not None else []

    def __repr__(self) -> str:
        revs = ", ".join(f"{r.main}.{r.sub}" for r in map(Revision.unpack, self.revs))
        return f"Generation(created={self.created}, version={self.version}, revs=[{revs}])"


class KeyIndex:
    """Every visible revision of ``key``, grouped in generations.

    Contract: ``put``/``tombstone``/``restore`` take strictly increasing packed
    revisions; ``get``/``kept_at`` are pure reads; ``compact`` only drops
    revisions that no read at or above the compact revision can see.
    """

    __slots__ = ("key", "modified", "generations")

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.modified = 0  # the latest packed revision, 0 if none yet
        self.generations: list[Generation] = [Generation()]

    def __repr__(self) -> str:
        return f"KeyIndex({self.key!r}, {self.generations!r})"

    # -- writes --------------------------------------------------------------------

    def put(self, rev: int) -> None:
        """Record a put at ``rev``: appended to the current generation, which
        it creates if the key does not exist."""
        self._check_order(rev)
        g = self.generations[-1]
        if not g.revs:
            g.created = main_of(rev)
        g.revs.append(rev)
        g.version += 1
        self.modified = rev

    def tombstone(self, rev: int) -> None:
        """Record a delete at ``rev``: it ends the current generation, and a
        new empty one waits for the key to be created again."""
        if not self.generations[-1].revs:
            raise RevisionOrderError(f"tombstone for {self.key!r} at {Revision.unpack(rev)}: the key does not exist")
        self.put(rev)
        self.generations.append(Generation())

    def restore(self, rev: int, created: int, version: int) -> None:
        """Rebuild from a stored put at ``rev`` with its stored ``created`` and
        ``version``. The first put of a generation may not be its creation:
        compaction removes the revisions before the one it keeps."""
        self._check_order(rev)
        g = self.generations[-1]
        if not g.revs:
            g.created, g.version = created, version - 1
        elif version != g.version + 1 or created != g.created:
            raise RevisionOrderError(
                f"{self.key!r} at {Revision.unpack(rev)}: stored version {version} (created {created}) "
                f"does not follow version {g.version} (created {g.created})"
            )
        g.revs.append(rev)
        g.version += 1
        self.modified = rev

    def _check_order(self, rev: int) -> None:
        if rev <= self.modified:
            raise RevisionOrderError(
                f"{self.key!r}: revision {Revision.unpack(rev)} is not after {Revision.unpack(self.modified)}"
            )

    # -- reads ---------------------------------------------------------------------

    def is_empty(self) -> bool:
        return len(self.generations) == 1 and not self.generations[0].revs

    def is_live(self) -> bool:
        """The key exists now (its current generation has a revision)."""
        return bool(self.generations[-1].revs)

    def get(self, at_main: int) -> tuple[int, int, int] | None:
        """``(modified, created, version)`` of the key as of main revision
        ``at_main`` — the packed revision of its latest put at or before it,
        the main revision that created it, its version then — or ``None`` if
        the key did not exist then."""
        if main_of(self.modified) <= at_main:
            # Fast path, every read at the current revision: the latest
            # revision is visible — a put, or a tombstone (absent).
            g = self.generations[-1]
            return (self.modified, g.created, g.version) if g.revs else None
        g = self._generation_at(at_main)
        if g is None:
            return None
        i = bisect_right(g.revs, last_of_main(at_main)) - 1
        if i < 0:
            return None
        return g.revs[i], g.created, g.version - (len(g.revs) - 1 - i)

    def _generation_at(self, at_main: int) -> Generation | None:
        """The generation alive at ``at_main``, or ``None`` if the key was
        absent then (not yet created, or deleted and not yet re-created)."""
        gens = self.generations
        last = len(gens) - 1
        for i in range(last, -1, -1):
            g = gens[i]
            if not g.revs:
                continue
            if i != last and main_of(g.revs[-1]) <= at_main:
                return None  # this life ended at or before at_main
            if main_of(g.revs[0]) <= at_main:
                return g
        return None

    def kept_at(self, at_main: int) -> int | None:
        """The revision compaction at ``at_main`` keeps among those at or
        below it: the key's latest put at or before ``at_main`` if the key
        still existed then; ``None`` if nothing at or below it survives."""
        gi, ri = self._compaction_point(at_main)
        return self.generations[gi].revs[ri] if ri >= 0 else None

    def _compaction_point(self, at_main: int) -> tuple[int, int]:
        """``(g, r)``: the first generation compaction at ``at_main`` keeps,
        and the index in it of the revision current at ``at_main`` (-1 if all
        its revisions are later)."""
        gens = self.generations
        gi = 0
        # A generation whose tombstone is at or below at_main is invisible
        # from at_main on.
        while gi < len(gens) - 1 and main_of(gens[gi].revs[-1]) <= at_main:
            gi += 1
        return gi, bisect_right(gens[gi].revs, last_of_main(at_main)) - 1

    # -- compaction ------------------------------------------------------------------

    def compact(self, at_main: int) -> None:
        """Drop every revision no read at or after ``at_main`` can see: the
        revisions superseded at ``at_main`` and the generations that ended at
        or before it. Idempotent; compacting at an older revision after a
        newer one changes nothing."""
        gi, ri = self._compaction_point(at_main)
        if ri > 0:
            del self.generations[gi].revs[:ri]
        if gi:
            del self.generations[:gi]
