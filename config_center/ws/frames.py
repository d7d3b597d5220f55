"""Websocket text frames built once per message for every socket that
gets it (RFC 6455, section 5.2: final, text, unmasked as a server's are,
no extension bits), for the server's ``node.websocket.write_frame``
extension (``consensus/websocket_protocol.py``).

A feed sends one message object to thousands of sockets, so the frame is
kept with that object (``frame_of``) and built the first time."""
from __future__ import annotations

WRITE_FRAME_EXTENSION = "node.websocket.write_frame"  # the server's name for it

_RECENT = 64  # messages whose frames are kept: the fan-outs in progress


def text_frame(text: str) -> bytes:
    data = text.encode()
    length = len(data)
    if length < 126:
        head = bytes((0x81, length))
    elif length < 1 << 16:
        head = b"\x81\x7e" + length.to_bytes(2, "big")
    else:
        head = b"\x81\x7f" + length.to_bytes(8, "big")
    return head + data


# id(text) -> (text, frame); holding the text keeps its id from being reused.
_frames: dict[int, tuple[str, bytes]] = {}


def frame_of(text: str) -> bytes:
    """``text``'s frame, built once for the same message object."""
    known = _frames.get(id(text))
    if known is not None and known[0] is text:
        return known[1]
    frame = text_frame(text)
    if len(_frames) >= _RECENT:
        _frames.clear()
    _frames[id(text)] = (text, frame)
    return frame


def frame_writer(scope) -> object | None:
    """The server's frame writer for this connection, if it offers one."""
    extension = scope.get("extensions", {}).get(WRITE_FRAME_EXTENSION)
    return extension.get("write") if extension else None
