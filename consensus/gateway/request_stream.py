"""The requests a streaming endpoint's body holds.

etcd's gateway reads the body of ``/v3/watch`` and ``/v3/lease/keepalive``
with Go's ``json.Decoder``: one JSON value after another (whitespace between
them optional), each a request, until the body ends. The first value is
decoded before anything is answered, so a first value that does not decode
is answered with an error body (code 2, HTTP 500, ``json_codec``'s stream
decode error). A later one only stops the reading: the requests before it
stand and the stream goes on (``StreamRequests.error`` keeps what it was).

Over HTTP/1.1 the body is complete before daphne hands it to us, so every
request of a stream is known at its start; a client ends a watch stream by
closing the connection, not with a request sent later.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterator

from consensus.mvcc.json_codec import RequestDecodeError
from consensus.mvcc.json_codec.go_json import RawNumber, body_syntax_error, type_error

_DECODER = json.JSONDecoder(parse_float=RawNumber)
_WHITESPACE = " \t\r\n"


class StreamRequests:
    """The requests of a streaming body, in order.

    ``decode`` turns one JSON object into a request, or ``None`` for an
    object that asks for nothing (a watch request naming none of its three
    kinds, which etcd ignores); it raises ``RequestDecodeError`` for one that
    does not fit.

    ``first()`` decodes the first value and raises ``RequestDecodeError``,
    marked as streaming (code 2), if it does not decode. Iterating then
    yields the requests after it (skipping ``None``), stopping quietly at the
    first value that does not decode (kept in ``error``).
    """

    def __init__(self, body: bytes, decode: Callable[[dict], Any]) -> None:
        self._text = body.decode("utf-8", "replace")
        self._pos = 0
        self._decode = decode
        self.error: RequestDecodeError | None = None

    def _next_object(self) -> dict | None:
        text, pos, end = self._text, self._pos, len(self._text)
        while pos < end and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= end:
            self._pos = pos
            return None
        try:
            value, self._pos = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as error:
            self._pos = end
            raise body_syntax_error(text, error) from None
        if value is None:
            return {}  # an empty request, as Go decodes ``null``
        if not isinstance(value, dict):
            self._pos = end
            raise type_error(value, "map[string]json.RawMessage")
        return value

    def _next(self) -> tuple[bool, Any]:
        """``(more, request)``: ``more`` is False at the end of the body."""
        try:
            obj = self._next_object()
            if obj is None:
                return False, None
            return True, self._decode(obj)
        except RequestDecodeError as error:
            self._pos = len(self._text)
            raise error.for_kind("watch") from None

    def first(self) -> tuple[bool, Any]:
        """``(present, request)`` for the first value of the body:
        ``present`` is False for a body without any; ``request`` may be
        ``None`` (a value that asks for nothing)."""
        return self._next()

    def __iter__(self) -> Iterator[Any]:
        while True:
            try:
                more, request = self._next()
            except RequestDecodeError as error:
                self.error = error
                return
            if not more:
                return
            if request is not None:
                yield request
