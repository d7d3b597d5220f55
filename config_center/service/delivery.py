"""Delivery tracking: which application instances are connected to which
namespaces, which release each has applied, and how long releases took
to reach them.

Each member tracks the live connections it serves (``DeliveryTracker``):
an instance says who it is when it connects (``id``, ``labels``, ``host``,
``sdk``), every change sent to it is counted as *received*, and every
revision it acknowledges as *applied*, with the time from the release's
creation (``published_at``) to the acknowledgement. Every
``flush_interval`` seconds the member writes what changed to the store,
one record per namespace (in chunks of ``CHUNK_INSTANCES`` instances),
under ``keys.delivery(ns, member)``, and rewrites unchanged ones now and
then so their ``updated_at`` shows the member is alive. ``read`` merges
the records of every member of the cluster and leaves out those not
refreshed for ``stale_after`` seconds (a member that died).

Propagation times are kept as counts in logarithmic buckets (each 25%
wider than the one below, from 1 ms), which merge across members by
addition; a percentile is reported as the upper bound of its bucket, so
it is high by at most 25%. Times depend on the clocks of the member that
made the release and the one the instance is connected to agreeing.

Counts are per connection: an instance that reconnects to another member
is counted once there. A member keeps stats for the last
``RELEASES_KEPT`` releases of each namespace.
"""
from __future__ import annotations

import asyncio
import functools
import itertools
import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from consensus.mvcc.api import RangeRequest

from config_center.store import keys, records

from .context import ServiceContext
from .errors import InvalidError
from .tokens import epoch

logger = logging.getLogger(__name__)

FLUSH_INTERVAL = 1.0
STALE_AFTER = 15.0
REFRESH_EVERY = 5.0
CHUNK_INSTANCES = 500
RELEASES_KEPT = 20
MAX_LABELS = 32
MAX_TEXT = 200
BUCKET_GROWTH = 1.25


@functools.lru_cache(maxsize=256)
def _published_epoch(published_at: str) -> float:
    # Parsed once per release, not once per subscriber it reaches.
    return epoch(published_at)


def bucket_of(milliseconds: float) -> int:
    """The histogram bucket of a duration: 0 holds up to 1 ms, bucket k
    up to ``BUCKET_GROWTH ** k`` ms."""
    if milliseconds <= 1:
        return 0
    return math.ceil(math.log(milliseconds) / math.log(BUCKET_GROWTH))


def bucket_upper_ms(bucket: int) -> float:
    return BUCKET_GROWTH ** bucket


def percentile_ms(histogram: dict[int, int], fraction: float) -> float | None:
    total = sum(histogram.values())
    if not total:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return round(bucket_upper_ms(bucket), 1)
    raise AssertionError("rank beyond the histogram's total")


def check_instance(value: Any, fallback_id: str) -> dict:
    """The instance description of a hello message, checked."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InvalidError("instance must be an object: {id, labels, host, sdk}")
    unknown = set(value) - {"id", "labels", "host", "sdk"}
    if unknown:
        raise InvalidError(f"unknown instance field(s): {', '.join(sorted(unknown))}")
    out = {"id": value.get("id", fallback_id), "host": value.get("host", ""), "sdk": value.get("sdk", "")}
    for name, text in out.items():
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise InvalidError(f"instance {name} must be a string of at most {MAX_TEXT} characters")
    if not out["id"]:
        raise InvalidError("instance id must not be empty")
    labels = value.get("labels", {})
    if (not isinstance(labels, dict) or len(labels) > MAX_LABELS
            or not all(isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 63 and len(v) <= MAX_TEXT
                       for k, v in labels.items())):
        raise InvalidError(f"instance labels must be at most {MAX_LABELS} string keys (1-63 characters) "
                           f"to string values (at most {MAX_TEXT})")
    out["labels"] = dict(labels)
    return out


@dataclass
class _Subscribed:
    received_revision: int = 0
    received_release: int = 0
    applied_revision: int = 0
    applied_release: int = 0
    # revision -> (release, published_at epoch or None), for changes sent and not yet acknowledged
    pending: dict[int, tuple[int, float | None]] = field(default_factory=dict)


@dataclass
class _ReleaseStats:
    received: int = 0
    applied: int = 0
    histogram: dict[int, int] = field(default_factory=dict)
    max_ms: float = 0.0


class Connection:
    """One live connection's part of the tracking; made by
    ``DeliveryTracker.connect``. Call its methods as things happen."""

    PENDING_KEPT = 256

    def __init__(self, tracker: DeliveryTracker, key: str, instance: dict, user: str, address: str,
                 connected_at: float) -> None:
        self.tracker = tracker
        self.key = key
        self._instance = instance
        self._fixed_json = ""  # the fields of ``view`` that do not change, as JSON (``view_json``)
        self.user = user
        self.address = address
        self.connected_at = connected_at
        self.namespaces: dict[str, _Subscribed] = {}

    def subscribed(self, ns: str) -> None:
        self.namespaces[ns] = _Subscribed()
        self.tracker._dirty.add(ns)

    def unsubscribed(self, ns: str) -> None:
        if self.namespaces.pop(ns, None) is not None:
            self.tracker._dirty.add(ns)

    def sent(self, ns: str, revision: int, release: int, published_at: str | None, *, change: bool) -> None:
        """A message of ``ns`` at ``revision`` (of ``release``) went to the
        client; ``change`` for a change (counted as received), not for a
        snapshot or resync."""
        state = self.namespaces.get(ns)
        if state is None:
            return
        state.received_revision, state.received_release = revision, release
        when = _published_epoch(published_at) if published_at else None
        state.pending[revision] = (release, when)
        if len(state.pending) > self.PENDING_KEPT:
            del state.pending[min(state.pending)]
        if change:
            self.tracker._stats(ns, release).received += 1
        self.tracker._dirty.add(ns)

    def acked(self, ns: str, revision: int) -> None:
        """The client applied ``ns`` up to ``revision``."""
        state = self.namespaces.get(ns)
        if state is None or revision <= state.applied_revision:
            return
        done = sorted(r for r in state.pending if r <= revision)
        now = self.tracker.ctx.clock()
        for r in done:
            release, published = state.pending.pop(r)
            state.applied_revision, state.applied_release = r, release
            if published is not None:
                stats = self.tracker._stats(ns, release)
                stats.applied += 1
                elapsed = max(0.0, (now - published) * 1000)
                bucket = bucket_of(elapsed)
                stats.histogram[bucket] = stats.histogram.get(bucket, 0) + 1
                stats.max_ms = max(stats.max_ms, elapsed)
        state.applied_revision = max(state.applied_revision, revision)
        self.tracker._dirty.add(ns)

    def close(self) -> None:
        self.tracker._dirty.update(self.namespaces)
        self.tracker._connections.pop(self.key, None)

    @property
    def instance(self) -> dict:
        return self._instance

    @instance.setter
    def instance(self, instance: dict) -> None:
        self._instance = instance
        self._fixed_json = ""
        self.tracker._dirty.update(self.namespaces)

    def _fixed(self) -> dict:
        """What ``view`` shows that does not change with deliveries."""
        return {**self.instance, "user": self.user, "address": self.address, "connected_at": self.connected_at}

    def view(self, ns: str) -> dict:
        state = self.namespaces[ns]
        return {**self._fixed(),
                "received_revision": state.received_revision, "received_release": state.received_release,
                "applied_revision": state.applied_revision, "applied_release": state.applied_release}

    def view_json(self, ns: str) -> str:
        """``view(ns)`` as JSON. A flush writes every instance of a
        namespace, and after a release every one has changed; encoding the
        fixed fields once per connection instead of every time made
        flushing 10,000 instances several times cheaper."""
        if not self._fixed_json:
            self._fixed_json = json.dumps(self._fixed(), separators=(",", ":"), ensure_ascii=False)[:-1]
        state = self.namespaces[ns]
        return (f'{self._fixed_json},"received_revision":{state.received_revision},'
                f'"received_release":{state.received_release},"applied_revision":{state.applied_revision},'
                f'"applied_release":{state.applied_release}}}')


class DeliveryTracker:
    """This member's connections and release stats, written to the store
    (module docstring). ``run()`` is the flushing task."""

    def __init__(self, ctx: ServiceContext, *, flush_interval: float = FLUSH_INTERVAL,
                 stale_after: float = STALE_AFTER, refresh_every: float = REFRESH_EVERY) -> None:
        self.ctx = ctx
        self.flush_interval = flush_interval
        self.stale_after = stale_after
        self.refresh_every = refresh_every
        self._connections: dict[str, Connection] = {}
        self._stats_by_ns: dict[str, dict[int, _ReleaseStats]] = {}
        self._dirty: set[str] = set()
        self._written: dict[str, tuple[float, int]] = {}  # ns -> (when, chunks written)
        self._ids = itertools.count(1)
        self._member = ""

    def connect(self, instance: Any, *, user: str, address: str) -> Connection:
        key = f"c{next(self._ids)}"
        connection = Connection(self, key, check_instance(instance, key), user, address, self.ctx.clock())
        self._connections[key] = connection
        return connection

    def _stats(self, ns: str, release: int) -> _ReleaseStats:
        by_release = self._stats_by_ns.setdefault(ns, {})
        stats = by_release.get(release)
        if stats is None:
            stats = by_release[release] = _ReleaseStats()
            for old in sorted(by_release)[:-RELEASES_KEPT]:
                del by_release[old]
        return stats

    # -- writing ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except Exception as error:  # no leader for a moment: the next round writes it
                logger.debug("delivery tracking not written yet: %s", error)

    async def flush(self) -> None:
        now = self.ctx.clock()
        due = set(self._dirty)
        due.update(ns for ns, (when, _) in self._written.items() if now - when >= self.refresh_every)
        self._dirty.clear()
        if not due:
            return
        member = await self._member_id()
        for ns in sorted(due):
            await self._write(ns, member, now)

    async def _member_id(self) -> str:
        if not self._member:
            response = await self.ctx.client.range(RangeRequest(key=keys.NAMESPACES, serializable=True, limit=1))
            self._member = f"{response.header.member_id:016x}"
        return self._member

    async def _write(self, ns: str, member: str, now: float) -> None:
        instances = [c.view_json(ns) for c in self._connections.values() if ns in c.namespaces]
        releases = {str(seq): {"received": s.received, "applied": s.applied, "max_ms": round(s.max_ms, 1),
                               "histogram": {str(b): n for b, n in s.histogram.items()}}
                    for seq, s in self._stats_by_ns.get(ns, {}).items()}
        _, written_before = self._written.get(ns, (0.0, 0))
        if not instances and not releases:
            ops = [records.delete(keys.delivery_chunk(ns, member, i)) for i in range(written_before)]
            if ops:
                await records.txn(self.ctx.client, [], ops)
            self._written.pop(ns, None)
            self._stats_by_ns.pop(ns, None)
            return
        chunks = [instances[i:i + CHUNK_INSTANCES] for i in range(0, len(instances), CHUNK_INSTANCES)] or [[]]
        # One request per chunk: thousands of instances do not fit in one
        # request. A reader between two of them may see an instance that
        # moved between chunks twice, or not at all, until the next flush.
        for i, chunk in enumerate(chunks):
            header = {"member": member, "updated_at": now, **({"releases": releases} if i == 0 else {})}
            record = records.encode(header)[:-1] + b',"instances":[' + ",".join(chunk).encode() + b"]}"
            await self.ctx.client.put(records.put(keys.delivery_chunk(ns, member, i), record))
        stale = [records.delete(keys.delivery_chunk(ns, member, i)) for i in range(len(chunks), written_before)]
        if stale:
            await records.txn(self.ctx.client, [], stale)
        self._written[ns] = (now, len(chunks))

    async def forget(self) -> None:
        """Delete this member's records (at shutdown)."""
        member = await self._member_id()
        for ns, (_, chunks) in list(self._written.items()):
            await records.txn(self.ctx.client, [], [records.delete(keys.delivery_chunk(ns, member, i))
                                                    for i in range(chunks)])
        self._written.clear()


async def read(ctx: ServiceContext, ns: str, *, stale_after: float = STALE_AFTER) -> dict:
    """Every member's tracking of ``ns``, merged: the connected instances
    with what each received and applied, and per release how many
    instances received and applied it and how long that took."""
    kvs, _ = await records.scan(ctx.client, keys.deliveries(ns))
    now = ctx.clock()
    instances: list[dict] = []
    merged: dict[int, dict] = {}
    members = set()
    for kv in kvs:
        record = records.decode(kv.value)
        if now - record["updated_at"] > stale_after:
            continue
        members.add(record["member"])
        instances += [{**instance, "member": record["member"]} for instance in record["instances"]]
        for seq, stats in record.get("releases", {}).items():
            into = merged.setdefault(int(seq), {"received": 0, "applied": 0, "max_ms": 0.0, "histogram": {}})
            into["received"] += stats["received"]
            into["applied"] += stats["applied"]
            into["max_ms"] = max(into["max_ms"], stats["max_ms"])
            for bucket, count in stats["histogram"].items():
                into["histogram"][int(bucket)] = into["histogram"].get(int(bucket), 0) + count
    instances.sort(key=lambda i: (i["id"], i["member"]))
    releases = [{"release": seq, "received": s["received"], "applied": s["applied"],
                 "p50_ms": percentile_ms(s["histogram"], 0.5), "p99_ms": percentile_ms(s["histogram"], 0.99),
                 "max_ms": s["max_ms"] if s["applied"] else None}
                for seq, s in sorted(merged.items(), reverse=True)]
    by_release: dict[int, int] = {}
    for instance in instances:
        by_release[instance["applied_release"]] = by_release.get(instance["applied_release"], 0) + 1
    return {"namespace": ns, "members": sorted(members), "instances": instances,
            "instances_by_release": {str(k): v for k, v in sorted(by_release.items(), reverse=True)},
            "releases": releases}
