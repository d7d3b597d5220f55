"""proto3's JSON mapping of one scalar field, as etcd 3.4's gateway applies it.

- int64/uint64 are decimal strings on output; on input a JSON integer or a
  quoted one. uint32 (the hash) is a bare number.
- bytes are standard, padded base64, read the way Go's ``encoding/base64``
  reads them (``base64_decode``).
- Enums are written by name and read by name or number. An enum number with
  no name (``"sort_order": 7``) is refused with ``RequestDecodeError``,
  where etcd accepts it and treats it as "neither ascending nor descending":
  our enums cannot hold it.
- A field holding its default (0, false, empty) is omitted: ``encode``
  returns ``None`` for it, and ``decode`` turns JSON ``null`` into it.

Each codec here turns one field's value into JSON (``None``: omit the field)
and back; ``decode`` receives what ``json`` produced (see
``go_json.RawNumber``) and raises ``RequestDecodeError``. Message-valued and
repeated fields are ``messages.MessageCodec`` and ``messages.RepeatedCodec``.
"""
from __future__ import annotations

import binascii
import enum
import json
import re
from typing import Any

from consensus.mvcc.json_codec.errors import RequestDecodeError
from consensus.mvcc.json_codec.go_json import RawNumber, syntax_error, type_error

_INT_LITERAL = re.compile(r"-?(0|[1-9][0-9]*)")


class IntCodec:
    """An integer of Go type ``go_type`` in ``[low, high]``, written quoted
    (int64, uint64) or bare (uint32)."""

    def __init__(self, go_type: str, low: int, high: int, quoted: bool) -> None:
        self.go_type, self.low, self.high, self.quoted = go_type, low, high, quoted

    def encode(self, value: int) -> Any:
        if not value:
            return None
        return str(value) if self.quoted else value

    def decode(self, value: Any) -> int:
        if value is None:
            return 0
        if isinstance(value, bool):
            raise type_error(value, self.go_type)
        if isinstance(value, str) and not isinstance(value, RawNumber):
            # A quoted number: Go decodes what is inside the quotes as JSON.
            inner = value.strip(" \t\r\n")
            if not _INT_LITERAL.fullmatch(inner):
                try:
                    parsed = json.JSONDecoder(parse_float=RawNumber).decode(inner)
                except json.JSONDecodeError as error:
                    raise syntax_error(inner, error) from None
                if isinstance(parsed, (int, RawNumber)) and not isinstance(parsed, bool):
                    raise RequestDecodeError(
                        f"json: cannot unmarshal number {inner} into Go value of type {self.go_type}"
                    )
                raise type_error(parsed, self.go_type)
            value = int(inner)
        elif isinstance(value, RawNumber):
            raise RequestDecodeError(f"json: cannot unmarshal number {value} into Go value of type {self.go_type}")
        elif not isinstance(value, int):
            raise type_error(value, self.go_type)
        if not self.low <= value <= self.high:
            raise RequestDecodeError(f"json: cannot unmarshal number {value} into Go value of type {self.go_type}")
        return value


INT64 = IntCodec("int64", -(2**63), 2**63 - 1, quoted=True)
UINT64 = IntCodec("uint64", 0, 2**64 - 1, quoted=True)
UINT32 = IntCodec("uint32", 0, 2**32 - 1, quoted=False)


class BoolCodec:
    """A JSON ``true``/``false``; only ``true`` is written."""

    def encode(self, value: bool) -> Any:
        return True if value else None

    def decode(self, value: Any) -> bool:
        if value is None:
            return False
        if not isinstance(value, bool):
            raise type_error(value, "bool")
        return value


class StringCodec:
    """A JSON string; the empty string is not written."""

    def encode(self, value: str) -> Any:
        return value or None

    def decode(self, value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, str) or isinstance(value, RawNumber):
            raise type_error(value, "string")
        return value


_BASE64_VALUES = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


class BytesCodec:
    """``bytes`` as a base64 JSON string; empty bytes are not written."""

    def encode(self, value: bytes) -> Any:
        return base64_encode(value) if value else None

    def decode(self, value: Any) -> bytes:
        if value is None:
            return b""
        if not isinstance(value, str) or isinstance(value, RawNumber):
            raise type_error(value, "[]uint8")
        return base64_decode(value)


def base64_encode(data: bytes) -> str:
    """Standard, padded base64, as Go's ``encoding/json`` writes ``[]byte``."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def base64_decode(text: str) -> bytes:
    """Standard, padded base64 read the way Go's ``encoding/base64`` reads it
    for ``encoding/json``: CR and LF are skipped, unused low bits of the last
    character are ignored, and an error names the offset Go names (the bad
    character, the start of an unfinished group, or what follows the padding).

    Well-formed text (whole groups of four, padding only at the end, no
    CR/LF) is decoded by ``binascii`` in strict mode, which then accepts
    exactly what Go accepts and also ignores unused low bits; anything else
    goes through the character-by-character reading below, which names Go's
    error offset. (That reading alone took ~0.8 s of the event loop for a
    1 MB value.)
    """
    if not len(text) % 4 and "=" not in text[:-2] and "\n" not in text and "\r" not in text:
        try:
            return binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError):
            pass  # not well-formed: the reading below finds Go's error (or the value)
    return _base64_decode_like_go(text)


def _base64_decode_like_go(text: str) -> bytes:
    out = bytearray()
    si, n = 0, len(text)
    while si < n:
        group: list[int] = []
        while len(group) < 4:
            if si == n:
                if not group:
                    return bytes(out)
                raise RequestDecodeError(f"illegal base64 data at input byte {si - len(group)}")
            char = text[si]
            si += 1
            if char in _BASE64_VALUES:
                group.append(_BASE64_VALUES[char])
                continue
            if char in "\r\n":
                continue
            if char != "=" or len(group) < 2:
                raise RequestDecodeError(f"illegal base64 data at input byte {si - 1}")
            if len(group) == 2:  # "==" expected; the first one is consumed
                while si < n and text[si] in "\r\n":
                    si += 1
                if si == n:
                    raise RequestDecodeError(f"illegal base64 data at input byte {n}")
                if text[si] != "=":
                    raise RequestDecodeError(f"illegal base64 data at input byte {si - 1}")
                si += 1
            while si < n and text[si] in "\r\n":
                si += 1
            if si < n:
                raise RequestDecodeError(f"illegal base64 data at input byte {si}")
            break
        bits = 0
        for value in group:
            bits = bits << 6 | value
        bits <<= 6 * (4 - len(group))
        out += bits.to_bytes(3, "big")[: len(group) - 1]
    return bytes(out)


class EnumCodec:
    """A member of ``cls`` (Go type ``go_type``): written by name, read by
    name or number; the zero member is not written."""

    def __init__(self, cls: type[enum.IntEnum], go_type: str) -> None:
        self.cls, self.go_type = cls, go_type

    def encode(self, value: enum.IntEnum) -> Any:
        return self.cls(value).name if value else None

    def decode(self, value: Any) -> enum.IntEnum:
        if value is None:
            return self.cls(0)
        if isinstance(value, str) and not isinstance(value, RawNumber):
            try:
                return self.cls[value]
            except KeyError:
                raise RequestDecodeError(f'unknown value "{value}" for enum {self.go_type}') from None
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return self.cls(value)
            except ValueError:
                # etcd keeps an unnamed number; our enums cannot hold one.
                raise RequestDecodeError(f"unknown value {value} for enum {self.go_type}") from None
        raise type_error(value, self.go_type)


BYTES, BOOL, STRING = BytesCodec(), BoolCodec(), StringCodec()
