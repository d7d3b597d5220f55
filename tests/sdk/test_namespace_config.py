"""How server messages turn one ``NamespaceConfig`` into the next: a
snapshot replaces, a change applies on top and names what it changed, a
change already applied is skipped, progress moves the revision, and a
message that breaks the protocol raises at once."""
from __future__ import annotations

import pytest

from config_center_client import NamespaceConfig, ProtocolError
from config_center_client.namespace_config import CACHE, SERVER, apply_change, apply_progress, apply_snapshot


def item(content, revision, fmt="text"):
    return {"format": fmt, "content": content, "revision": revision, "secret": False}


def snapshot(revision, items, release=1):
    return {"type": "snapshot", "namespace": "a/b", "revision": revision, "release": release, "items": items}


def change(revision, items=None, deleted=None, release=2):
    return {"type": "change", "namespace": "a/b", "revision": revision, "release": release, "kind": "publish",
            "items": items or {}, "deleted": deleted or []}


def test_snapshot_then_changes():
    config, names = apply_snapshot(None, snapshot(10, {"x": item("1", 9), "y": item("2", 10)}))
    assert (config.revision, config.release, config.source, names) == (10, 1, SERVER, {"x", "y"})
    config2, names = apply_change(config, change(12, {"x": item("3", 12), "z": item("4", 12)}, ["y"]))
    assert names == {"x", "y", "z"}
    assert {n: i.content for n, i in config2.items.items()} == {"x": "3", "z": "4"}
    assert (config2.revision, config2.release) == (12, 2)
    # The old version is untouched: readers holding it see one revision whole.
    assert {n: i.content for n, i in config.items.items()} == {"x": "1", "y": "2"}
    with pytest.raises(TypeError):
        config2.items["w"] = None


def test_a_change_at_or_below_the_applied_revision_is_skipped():
    config, _ = apply_snapshot(None, snapshot(10, {"x": item("1", 9)}))
    assert apply_change(config, change(10, {"x": item("old", 10)})) is None
    assert apply_change(config, change(7, {"x": item("old", 7)})) is None


def test_a_resync_names_only_what_differs():
    config, _ = apply_snapshot(None, snapshot(10, {"x": item("1", 9), "y": item("2", 10)}))
    resynced, names = apply_snapshot(config, {**snapshot(30, {"x": item("1", 9), "z": item("5", 25)}),
                                              "type": "resync"})
    assert names == {"y", "z"} and resynced.revision == 30


def test_progress_moves_the_revision_and_confirms_cached_content():
    cached = NamespaceConfig.from_json(snapshot(10, {"x": item("1", 9)}), source=CACHE)
    confirmed = apply_progress(cached, 15)
    assert (confirmed.revision, confirmed.source, confirmed.items["x"].content) == (15, SERVER, "1")
    assert apply_progress(confirmed, 12) is confirmed


@pytest.mark.parametrize("bad", [
    change(11, {"x": {"format": "text", "revision": 11}}),  # no content
    change(11, {"x": item("1", "eleven")}),
    {**change(11), "revision": None},
    {**change(11), "deleted": "x"},
])
def test_a_message_that_breaks_the_protocol_raises(bad):
    config, _ = apply_snapshot(None, snapshot(10, {"x": item("1", 9)}))
    with pytest.raises(ProtocolError):
        apply_change(config, bad)


def test_a_change_before_any_snapshot_raises():
    with pytest.raises(ProtocolError, match="before any snapshot"):
        apply_change(None, change(11))


def test_round_trip_through_json():
    config, _ = apply_snapshot(None, snapshot(10, {"x": item("{}", 9, "json")}))
    again = NamespaceConfig.from_json(config.to_json(), source=CACHE)
    assert again.to_json() == config.to_json() and again.source == CACHE
