"""The member's Prometheus metrics, served at ``/metrics``.

Names follow etcd's where the meaning is the same (``etcd_server_has_leader``,
``etcd_disk_wal_fsync_duration_seconds``, ...), so dashboards and alerts
written for etcd work on a config_center node unchanged.

Two kinds of metric live here:
- events the runtime observes as they happen (a proposal committed or
  failed, an fsync's duration, an apply batch's duration, a snapshot, a
  leader change): module-level counters and histograms the node updates;
- state read at scrape time from the running member (has leader, pending
  proposals, peer traffic and round trip, watchers, keys, database size):
  ``MemberCollector``, so nothing is kept up to date between scrapes.

Everything is registered in ``REGISTRY``, not prometheus-client's global
registry, so in-process tests can run several members' code without
duplicate-registration errors and the output holds only the node's metrics.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from consensus.mvcc.api import RangeRequest

# The *_created series double the output and no dashboard reads them.
disable_created_metrics()
REGISTRY = CollectorRegistry(auto_describe=True)
_ALL_KEYS = RangeRequest(key=b"\0", range_end=b"\0", count_only=True, serializable=True)

# Disk latencies from 1 ms to ~8 s, etcd's buckets.
_DISK_BUCKETS = tuple(0.001 * 2**i for i in range(14))

proposals_committed = Counter(
    "etcd_server_proposals_committed", "Entries applied by this member's state machine.", registry=REGISTRY,
)
proposals_failed = Counter(
    "etcd_server_proposals_failed", "Proposals refused (no leader) or not applied in time.", registry=REGISTRY,
)
leader_changes = Counter(
    "etcd_server_leader_changes_seen", "Times this member saw a new leader.", registry=REGISTRY,
)
wal_fsync_duration = Histogram(
    "etcd_disk_wal_fsync_duration_seconds", "Time to write and fsync one ready batch to the WAL.",
    buckets=_DISK_BUCKETS, registry=REGISTRY,
)
apply_duration = Histogram(
    "config_center_apply_duration_seconds", "Time to apply one run of committed entries to the store.",
    buckets=_DISK_BUCKETS, registry=REGISTRY,
)
snapshot_duration = Histogram(
    "etcd_debugging_snap_save_total_duration_seconds", "Time to copy the store and write a Raft snapshot.",
    buckets=_DISK_BUCKETS, registry=REGISTRY,
)


class MemberCollector:
    """Reads the running member when scraped. ``node``, ``store`` and
    ``transport`` are looked up through callables so the collector can be
    registered once, before the member starts, and keeps working across a
    member restart in tests."""

    def __init__(self, node_provider, store_provider, transport_provider) -> None:
        self._node = node_provider
        self._store = store_provider
        self._transport = transport_provider

    def describe(self):
        return []

    def collect(self):
        node = self._node()
        has_leader = GaugeMetricFamily("etcd_server_has_leader", "1 if this member knows a leader, else 0.")
        is_leader = GaugeMetricFamily("etcd_server_is_leader", "1 if this member is the leader, else 0.")
        pending = GaugeMetricFamily("etcd_server_proposals_pending", "Proposals waiting to be applied.")
        applied = GaugeMetricFamily("etcd_server_proposals_applied", "The applied index.")
        committed_index = GaugeMetricFamily("etcd_server_proposals_committed_index", "The commit index.")
        term = GaugeMetricFamily("config_center_raft_term", "The current Raft term.")
        if node is not None:
            status = node.status()
            has_leader.add_metric([], 1 if status.leader else 0)
            is_leader.add_metric([], 1 if status.leader == status.id else 0)
            pending.add_metric([], node.pending_proposals)
            applied.add_metric([], status.applied)
            committed_index.add_metric([], status.commit)
            term.add_metric([], status.term)
        yield from (has_leader, is_leader, pending, applied, committed_index, term)

        store = self._store()
        if store is not None:
            keys = GaugeMetricFamily("etcd_debugging_mvcc_keys_total", "Live keys in the store.")
            keys.add_metric([], store.machine.range(_ALL_KEYS).count)
            size = GaugeMetricFamily("etcd_mvcc_db_total_size_in_bytes", "Size of the store's database file.")
            size.add_metric([], store.machine.db_size_bytes)
            revision = GaugeMetricFamily("config_center_mvcc_revision", "The store's current revision.")
            revision.add_metric([], store.machine.revision)
            watchers = GaugeMetricFamily("etcd_debugging_mvcc_watcher_total", "Live watchers on this member.")
            watchers.add_metric([], len(store.hub))
            yield from (keys, size, revision, watchers)

        transport = self._transport()
        if transport is not None:
            sent = CounterMetricFamily("etcd_network_peer_sent_bytes", "Bytes sent to a peer.", labels=["To"])
            received = CounterMetricFamily("etcd_network_peer_received_bytes", "Bytes received from a peer.", labels=["From"])
            dropped = CounterMetricFamily("etcd_network_peer_sent_failures", "Messages to a peer that were dropped.", labels=["To"])
            rtt = GaugeMetricFamily("etcd_network_peer_round_trip_time_seconds", "Last measured round trip to a peer.", labels=["To"])
            connected = GaugeMetricFamily("config_center_peer_connected", "1 if the connection to a peer is up.", labels=["To"])
            for peer_id, stats in sorted(transport.stats().items()):
                label = f"{peer_id:x}"
                sent.add_metric([label], stats.bytes_sent)
                received.add_metric([label], stats.bytes_received)
                dropped.add_metric([label], stats.messages_dropped)
                connected.add_metric([label], 1 if stats.connected else 0)
                if stats.rtt_seconds is not None:
                    rtt.add_metric([label], stats.rtt_seconds)
            yield from (sent, received, dropped, rtt, connected)


def render() -> bytes:
    """The exposition text of every metric in ``REGISTRY``."""
    return generate_latest(REGISTRY)
