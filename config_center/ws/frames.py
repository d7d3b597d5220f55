"""Websocket text frames built once per message for every socket that
gets it (RFC 6455, section 5.2: final, text, unmasked as a server's are,
no extension bits), for the server's ``node.websocket.write_frame``
extension (``consensus/websocket_protocol.py``).

A feed sends one message object to thousands of sockets, so the frame is
kept with that object (``frame_of``) and built the first time."""
from __future__ import annotations

WRITE_FRAME_EXTENSION = "node.websocket.write_frame"  # the server's name for it

# The frames kept: those of the fan-outs in progress. Bounded in bytes too,
# since an item may be a megabyte and each entry holds the text and its frame.
_RECENT = 64
_RECENT_BYTES = 16 * 1024 * 1024


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
_frames_bytes = 0


def frame_of(text: str) -> bytes:
    """``text``'s frame, built once for the same message object."""
    global _frames_bytes
    known = _frames.get(id(text))
    if known is not None and known[0] is text:
        return known[1]
    frame = text_frame(text)
    size = len(text) + len(frame)
    if len(_frames) >= _RECENT or _frames_bytes + size > _RECENT_BYTES:
        _frames.clear()
        _frames_bytes = 0
    if size <= _RECENT_BYTES:
        _frames[id(text)] = (text, frame)
        _frames_bytes += size
    return frame


def frame_writer(scope) -> object | None:
    """The server's frame writer for this connection, if it offers one."""
    extension = scope.get("extensions", {}).get(WRITE_FRAME_EXTENSION)
    return extension.get("write") if extension else None
