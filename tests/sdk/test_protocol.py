"""Member URLs become websocket URLs; a slow-consumer close reason gives
its resume points (cut reasons included); messages are compact JSON."""
from __future__ import annotations

import json

import pytest

from config_center_client import protocol


@pytest.mark.parametrize("base, ws", [
    ("http://10.0.0.5:8000", "ws://10.0.0.5:8000/ws/v1/config"),
    ("https://config.example.com/", "wss://config.example.com/ws/v1/config"),
    ("http://proxy:80/config-center", "ws://proxy:80/config-center/ws/v1/config"),
    ("ws://127.0.0.1:9/ws/v1/config", "ws://127.0.0.1:9/ws/v1/config"),
])
def test_ws_url(base, ws):
    assert protocol.ws_url(base) == ws


@pytest.mark.parametrize("bad", ["127.0.0.1:8000", "ftp://host", "http://"])
def test_a_url_that_is_not_a_member_is_refused_at_once(bad):
    with pytest.raises(ValueError, match="not a member URL"):
        protocol.ws_url(bad)


def test_resume_points_of_a_slow_consumer_close():
    assert protocol.resume_points('slow consumer; resume with since={"a/b":12,"c":7}') == {"a/b": 12, "c": 7}
    assert protocol.resume_points('slow consumer; since={"a/b":12,"c":...') == {}  # cut to fit a close frame
    assert protocol.resume_points("") == {}


def test_messages():
    assert json.loads(protocol.subscribe("a/b", None)) == {"type": "subscribe", "namespace": "a/b"}
    assert json.loads(protocol.subscribe("a/b", 0)) == {"type": "subscribe", "namespace": "a/b", "since": 0}
    assert json.loads(protocol.ack("a/b", 9)) == {"type": "ack", "namespace": "a/b", "revision": 9}
    assert json.loads(protocol.hello({"id": "i"})) == {"type": "hello", "instance": {"id": "i"}}
