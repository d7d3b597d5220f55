"""Page cursors: where the next page of a listing starts, given out as an
opaque string and taken back only by the listing that gave it out.

Threat model: a caller may send any string as a cursor. A cursor used to
be a store key (or a name the service turned into one), and paging scans
the store from it; a crafted key outside the listing's prefix made the
scan read whatever lay between it and the prefix (user records with their
password hashes, other namespaces' content). So a cursor here never names
a store key. It names a *position* in one listing — an item name, a
release number, a ``(chain, seq)`` pair — together with the listing it
belongs to, and the listing rebuilds the key from the position with the
same ``keys`` function that builds its prefix. A cursor from another
listing (another namespace's audit, the users listing sent to the tokens
listing), a position of the wrong shape, or a string that is not a cursor
at all is refused with ``InvalidError`` (400) before anything is read.
``records.scan`` refuses a start outside its prefix as well, so a mistake
in a listing fails loudly instead of reading past its range.

What this does not protect: a cursor is not secret and not signed. Any
position a caller can name inside a listing's own range is one the listing
itself may page to, and each listing filters what it returns by the
caller's access as on its first page; forging a cursor gains nothing but a
page that starts elsewhere.

Encoding: URL-safe base64 (no padding) of the JSON ``[listing, position]``.
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Callable

from .errors import InvalidError

# Listings, by the name their cursors carry. A listing scoped to a namespace,
# chain or service appends it: ``audit:payments/prod``.
NAMESPACES = "namespaces"
ITEMS = "items"
RELEASES = "releases"
AUDIT = "audit"
USERS = "users"
TOKENS = "tokens"
SERVICES = "services"
INSTANCES = "instances"


def listing(kind: str, scope: str | None = None) -> str:
    """The name of a listing: ``kind``, or ``kind:scope`` for one scoped to
    a namespace, chain or service."""
    return kind if scope is None else f"{kind}:{scope}"


def encode(name: str, position: Any) -> str:
    """The cursor for the page of listing ``name`` after ``position``."""
    raw = json.dumps([name, position], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(name: str, cursor: Any, check: Callable[[Any], bool]) -> Any:
    """The position ``cursor`` names in listing ``name``; ``None`` for no
    cursor (the first page). Raises ``InvalidError`` unless it is a cursor
    of this listing whose position ``check`` accepts."""
    if cursor is None or cursor == "":
        return None
    refused = InvalidError("cursor is not one this listing gave out: send the 'next' of its previous page, "
                           "or no cursor for the first page", {"cursor": cursor if isinstance(cursor, str) else None})
    if not isinstance(cursor, str) or len(cursor) > 4096:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise refused from None
    if not (isinstance(decoded, list) and len(decoded) == 2 and decoded[0] == name):
        raise refused
    position = decoded[1]
    try:
        accepted = check(position)
    except (TypeError, ValueError):
        accepted = False
    if not accepted:
        raise refused
    return position


def is_name(position: Any) -> bool:
    """A position that is a non-empty name (item, namespace, user, token id)."""
    return isinstance(position, str) and 0 < len(position) <= 1024 and "\0" not in position


def is_seq(position: Any) -> bool:
    """A position that is a sequence number (a release, an audit entry)."""
    return isinstance(position, int) and not isinstance(position, bool) and 0 <= position < 10 ** 12


def page(name: str, rows: list[dict], key: str, cursor: Any, limit: int) -> tuple[list[dict], str | None]:
    """One page of ``rows`` (sorted by their field ``key``, a name) for a
    listing read whole from the store: the rows after ``cursor``'s
    position, at most ``limit``, and the cursor of the page after them
    (None when there is none)."""
    position = decode(name, cursor, is_name)
    after = [row for row in rows if position is None or row[key] > position]
    shown = after[:limit]
    return shown, encode(name, shown[-1][key]) if len(after) > len(shown) else None
