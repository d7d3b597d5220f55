"""Watch streams of our store (``WatchHub`` over ``StoreStateMachine``)
against a real etcd 3.4.23's ``/v3/watch``.

Per seed, three watches on each side, each compared response by response
(header revision, watch_id, created / canceled, compact_revision, events
with type, kv and prev_kv — and how events are grouped into responses):

- **all**: every key, from now on, with prev_kv;
- **random**: a random key, prefix, span or from-key range, random filters
  (NOPUT / NODELETE) and prev_kv, from now on;
- **historical**: opened after the sequence, from a random start revision
  (in history, at or below the compact revision, at the present or in the
  future), random range, filters and prev_kv — etcd replays it from its
  history, our hub from ``StoreStateMachine.history``.

Both live watches are opened before a seed's requests (the same generator as
``test_kv_vs_etcd``, compared response by response too). Then a fence — a put
and a delete of a key inside the random watch's range, on both sides — makes
the last events of both live watches known, so reading etcd's stream up to
them proves that it sent nothing ours did not.

Each watch gets a hub of its own, because etcd numbers watches per stream
(from 0) and the gateway opens one stream per watch.

A failure prints the seed and the replay command; ``--seeds N`` / ``--seed S``
as in ``test_kv_vs_etcd``.
"""
from __future__ import annotations

import dataclasses
import json

import pytest

from consensus.mvcc.api import (
    CompactionRequest,
    DeleteRangeRequest,
    PutRequest,
    WatchCreateRequest,
    WatchFilter,
    WatchResponse,
)
from consensus.mvcc import json_codec
from consensus.mvcc.state_machine import StoreStateMachine
from consensus.mvcc.watch_hub import WatchHub
from tests.differential.etcd import GatewayError
from tests.differential.generator import Generator, StoreView
from tests.differential.harness import (
    Differential,
    EtcdSide,
    OurStore,
    first_difference,
    seed_id,
    seed_list,
    shift_revisions,
    zero_header_identity,
)

DEFAULT_SEEDS = 100
OPS_PER_SEED = 30
READ_TIMEOUT = 3.0  # a response ours has and etcd does not: wait this long, then fail


def pytest_generate_tests(metafunc):
    if "seed" in metafunc.fixturenames:
        metafunc.parametrize("seed", seed_list(metafunc.config, DEFAULT_SEEDS), ids=seed_id)


def replay_command(test: str, case: str) -> str:
    return f".venv/bin/python -m pytest 'tests/differential/test_watch_vs_etcd.py::{test}[{case}]'"


def random_filters(generator: Generator) -> tuple[WatchFilter, ...]:
    return generator.rng.choice(
        [()] * 4 + [(WatchFilter.NOPUT,), (WatchFilter.NODELETE,), (WatchFilter.NOPUT, WatchFilter.NODELETE)]
    )


def random_watch(generator: Generator, *, start_revision: int = 0) -> WatchCreateRequest:
    key, range_end = generator.key_range()
    return WatchCreateRequest(
        key=key,
        range_end=range_end,
        start_revision=start_revision,
        filters=random_filters(generator),
        prev_kv=generator.rng.random() < 0.5,
    )


def describe_responses(responses: list[WatchResponse]) -> str:
    return "\n".join(f"    {json.dumps(json_codec.response_to_json(r), sort_keys=True)}" for r in responses) or "    (none)"


class WatchPair:
    """One watch, opened on etcd (its own ``/v3/watch`` stream) and on a hub
    of its own over our store."""

    def __init__(self, name: str, run: Differential, etcd, sm, request: WatchCreateRequest) -> None:
        self.name = name
        self.run = run
        self.request = request
        self.stream = etcd.watch(shift_revisions(request, run.offset))
        self.hub = WatchHub.attach(sm)
        self.watcher = self.hub.watch(request)
        self.ours: list[WatchResponse] = []
        self.theirs: list[WatchResponse] = []

    def close(self) -> None:
        self.stream.close()

    def _etcd_next(self, timeout: float = READ_TIMEOUT) -> WatchResponse:
        response = self.stream.next(timeout=timeout)
        return zero_header_identity(shift_revisions(response, -self.run.offset))

    def _our_pending(self) -> list[WatchResponse]:
        pending = []
        while (response := self.watcher.poll()) is not None:
            pending.append(zero_header_identity(response))
        return pending

    def sync(self, *, expect_quiet: float = 0.0) -> None:
        """Take every response our hub has, read etcd's stream until it has
        given as many events (and the terminal response, if ours ended),
        then compare everything so far. ``expect_quiet``: afterwards, wait
        that long for an extra etcd response that would be a mismatch."""
        self.ours += self._our_pending()
        want_events = sum(len(r.events) for r in self.ours)
        want_responses = len(self.ours)

        def satisfied() -> bool:
            got_events = sum(len(r.events) for r in self.theirs)
            if got_events != want_events:
                return got_events > want_events  # too many: compare now
            return len(self.theirs) >= want_responses

        timed_out = ""
        try:
            while not satisfied():
                self.theirs.append(self._etcd_next())
            if expect_quiet:
                try:
                    self.theirs.append(self._etcd_next(expect_quiet))
                except TimeoutError:
                    pass
        except (TimeoutError, GatewayError) as error:
            timed_out = f" (etcd's stream gave nothing more within {READ_TIMEOUT}s: {type(error).__name__} {error})"
        theirs = allow_compact_boundary(self.hub, self.request, self.ours, self.theirs)
        if self.ours != theirs:
            a = [json_codec.response_to_json(r) for r in self.ours]
            b = [json_codec.response_to_json(r) for r in theirs]
            self.fail(f"first difference: {first_difference(a, b)}{timed_out}")

    def fail(self, what: str) -> None:
        raise AssertionError(
            f"watch '{self.name}' differs from etcd's: seed {self.run.seed}, after step {len(self.run.steps) - 1}\n"
            f"{what}\n"
            f"watch (our revisions; etcd's are {self.run.offset} higher): "
            f"{json.dumps(json_codec.request_to_json(self.request), sort_keys=True)}\n"
            f"ours:\n{describe_responses(self.ours)}\n"
            f"etcd:\n{describe_responses(self.theirs)}\n"
            "steps so far:\n"
            + "\n".join(f"  {i:3d} {json.dumps(json_codec.request_to_json(r), sort_keys=True)} ({type(r).__name__})"
                        for i, r in enumerate(self.run.steps))
            + f"\nreplay: {self.run.replay}"
        )


def allow_compact_boundary(hub: WatchHub, request: WatchCreateRequest, ours: list[WatchResponse],
                           theirs: list[WatchResponse]) -> list[WatchResponse]:
    """Difference ``watch-compact-boundary`` (``harness.DIFFERENCES``): when
    the hub counts the compact revision C itself as compacted (its
    ``oldest_revision()`` is C + 1), etcd's compacted responses say C where
    ours say C + 1, and a watch starting exactly at C is canceled by ours
    (with C + 1) while etcd streams it. Returns etcd's responses with those
    two cases rewritten to ours; everything else is left for comparison."""
    oldest = getattr(hub, "oldest_revision", None)
    compact = hub._store.compact_revision
    if oldest is None or compact <= 0 or oldest() != compact + 1:
        return theirs
    expected_cancel = WatchResponse(canceled=True, compact_revision=compact + 1)
    if request.start_revision == compact and ours[1:] == [expected_cancel] and theirs[:1] == ours[:1]:
        return ours[:1] + [expected_cancel]
    return [
        dataclasses.replace(r, compact_revision=compact + 1)
        if r.canceled and r.compact_revision == compact and expected_cancel in ours else r
        for r in theirs
    ]


def fence_key(request: WatchCreateRequest) -> bytes:
    """A key inside the watch's range (its own key), or b"\\x00" when it has
    none that can be written (an empty key)."""
    return request.key or b"\x00"


def test_watch_streams_match_etcd(etcd, tmp_path, seed):
    sm = StoreStateMachine.open(tmp_path / "store")
    pairs: list[WatchPair] = []
    try:
        ours = OurStore(sm)
        run = Differential(seed, ours, EtcdSide(etcd),
                           replay=replay_command("test_watch_streams_match_etcd", seed_id(seed)))
        generator = Generator(seed, StoreView(lambda: ours.revision, lambda: ours.compact_revision))
        all_keys = WatchPair("all", run, etcd, sm, WatchCreateRequest(key=b"\x00", range_end=b"\x00", prev_kv=True))
        pairs.append(all_keys)
        random_pair = WatchPair("random", run, etcd, sm, random_watch(generator))
        pairs.append(random_pair)
        for pair in pairs:
            pair.sync()  # the created responses
        for _ in range(OPS_PER_SEED):
            request = generator.next_request()
            outcome = run.step(request)
            generator.observe(request, outcome.error is None)
        key = fence_key(random_pair.request)
        run.step(PutRequest(key=key, value=b"fence"))
        run.step(DeleteRangeRequest(key=key))
        for pair in pairs:
            pair.sync()
        # Not from revision 1: in etcd that is the reset's delete, which has
        # events; in our fresh store it has none (harness docstring).
        start = max(2, generator.revision())
        historical = WatchPair("historical", run, etcd, sm, random_watch(generator, start_revision=start))
        pairs.append(historical)
        historical.sync()
    finally:
        for pair in pairs:
            pair.close()
        sm.close()


# Single watches whose first responses are compared, then etcd is given a
# moment to send anything more. Revisions are ours (shifted for etcd).
WATCH_EDGES = {
    "empty_range": WatchCreateRequest(key=b"c", range_end=b"a"),
    "empty_key": WatchCreateRequest(),
    "given_watch_id": WatchCreateRequest(key=b"a", watch_id=5),
    "negative_watch_id": WatchCreateRequest(key=b"a", watch_id=-3),
    "negative_start_revision": WatchCreateRequest(key=b"a", start_revision=-3),
    "future_start_revision": WatchCreateRequest(key=b"a", start_revision=1000),
    "start_at_compact_revision": WatchCreateRequest(key=b"\x00", range_end=b"\x00", start_revision=4, prev_kv=True),
    "start_below_compact_revision": WatchCreateRequest(key=b"a", start_revision=3),
}


@pytest.mark.parametrize("case", sorted(WATCH_EDGES))
def test_watch_edges_match_etcd(etcd, tmp_path, case):
    sm = StoreStateMachine.open(tmp_path / "store")
    pair = None
    try:
        ours = OurStore(sm)
        run = Differential(0, ours, EtcdSide(etcd), replay=replay_command("test_watch_edges_match_etcd", case))
        # History: a at 2, 3 (prev_kv), deleted at 4; b at 5; compacted at 4.
        for request in (PutRequest(key=b"a", value=b"1"), PutRequest(key=b"a", value=b"2"),
                        DeleteRangeRequest(key=b"a"), PutRequest(key=b"b", value=b"3")):
            run.step(request)
        run.step(CompactionRequest(revision=4))
        pair = WatchPair(case, run, etcd, sm, WATCH_EDGES[case])
        pair.sync(expect_quiet=0.3)
        run.step(PutRequest(key=b"a", value=b"after"))
        pair.sync(expect_quiet=0.2)
    finally:
        if pair is not None:
            pair.close()
        sm.close()
