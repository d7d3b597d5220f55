"""Text frames built once for many sockets are the frames the websockets
library itself would send, at every length encoding."""
from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from config_center.ws.frames import frame_of, text_frame


@pytest.mark.parametrize("length", [0, 1, 125, 126, 1000, 65535, 65536, 200_000])
def test_a_text_frame_is_what_websockets_would_send(length):
    text = ("é" * length)[:length] if length % 2 else "x" * length
    assert text_frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])


def test_a_message_is_framed_once_however_many_sockets_get_it():
    message = "".join(["{", '"type":"change"', "}"])  # a fresh object, as a feed's body is
    first = frame_of(message)
    assert frame_of(message) is first
    other = "".join(["{", '"type":"change"', "}"])
    assert frame_of(other) == first and frame_of(other) is not first


def test_the_frames_kept_are_bounded_in_bytes():
    from config_center.ws import frames

    big = ["x" * (3 * 1024 * 1024) + str(n) for n in range(12)]
    for text in big:
        assert frames.frame_of(text) == frames.text_frame(text)
    assert frames._frames_bytes <= frames._RECENT_BYTES
    assert len(frames._frames) < len(big)
