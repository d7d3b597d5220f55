"""The audit log: one hash chain per namespace (and ``_global`` for what
belongs to no namespace), each entry holding the hash of the one before.

An entry records who (actor, the API token used if any, and address), when, what (action, target,
details), a comment, and the namespace revision it changed (``before``);
the revision its transaction produced is the entry key's own mod_revision,
reported as ``revision`` when read. The hash covers every recorded field,
so editing, removing or reordering entries breaks the chain where it
happened, and ``verify`` says where. (Someone who can write the store as
root can rewrite a whole chain consistently; a copy of the newest hash kept
elsewhere detects that too.)"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from config_center.store import keys, records

from . import cursors
from .context import Actor, ServiceContext

GENESIS = "0" * 64


def entry_hash(entry: dict) -> str:
    """SHA-256 of the entry's canonical bytes, without its own hash."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(records.encode(body)).hexdigest()


def new_entry(
    *, chain: str, seq: int, prev: str, before: int, actor: Actor, time: str, action: str, target: str,
    comment: str = "", details: Any = None,
) -> dict:
    entry = {
        "chain": chain, "seq": seq, "prev": prev, "time": time, "actor": actor.name, "token": actor.token, "address": actor.address,
        "action": action, "target": target, "before": before, "comment": comment, "details": details,
    }
    entry["hash"] = entry_hash(entry)
    return entry


@dataclass(frozen=True)
class Verification:
    chain: str
    entries: int
    ok: bool
    problems: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"chain": self.chain, "entries": self.entries, "ok": self.ok, "problems": list(self.problems)}


async def verify(ctx: ServiceContext, chain: str) -> Verification:
    """Recompute every hash of ``chain`` and check every link, the numbering,
    and that the head names the last entry."""
    prefix = keys.audit_chain(chain)
    kvs, _ = await records.scan(ctx.client, prefix)
    head_kv = await records.get(ctx.client, keys.head(chain))
    problems: list[str] = []
    prev = GENESIS
    expected_seq = 1
    for kv in kvs:
        label = keys.name_after(prefix, kv.key)
        try:
            entry = records.decode(kv.value)
        except ValueError:
            problems.append(f"entry {label}: not a JSON record")
            prev, expected_seq = "?", expected_seq + 1
            continue
        seq = entry.get("seq")
        if seq != expected_seq or int(label) != seq:
            problems.append(f"entry {label}: numbered {seq}, expected {expected_seq}")
        if entry.get("prev") != prev and prev != "?":
            problems.append(f"entry {label}: does not link to the entry before it")
        if entry.get("hash") != entry_hash(entry):
            problems.append(f"entry {label}: content does not match its hash (modified)")
        prev = entry.get("hash", "?")
        expected_seq = (seq if isinstance(seq, int) else expected_seq) + 1
    if head_kv is not None:
        head = records.decode(head_kv.value)
        if head.get("audit_seq") != len(kvs) or (kvs and head.get("audit_hash") != prev):
            problems.append(
                f"the chain head names entry {head.get('audit_seq')}, but the chain holds {len(kvs)} entries "
                "ending in another hash (entries removed or appended outside the service)"
            )
    elif kvs:
        problems.append("entries exist but the chain has no head")
    return Verification(chain, len(kvs), not problems, tuple(problems))


def entry_view(kv) -> dict:
    """An entry as the API shows it: its fields plus the revision its
    change produced."""
    entry = records.decode(kv.value)
    entry["revision"] = kv.mod_revision
    return entry


def _position(key: bytes, chain: str | None):
    """An entry's place in a listing, as its cursors name it: its seq in a
    chain's own listing, ``[chain, seq]`` in every chain's."""
    entry_chain, seq = key[len(keys.AUDIT):].rsplit(keys.SEPARATOR, 1)
    return int(seq) if chain is not None else [entry_chain.decode(), int(seq)]


def _entry_key(position, chain: str | None) -> bytes:
    return keys.audit_entry(chain, position) if chain is not None else keys.audit_entry(*position)


def _is_chain_position(position) -> bool:
    return (isinstance(position, list) and len(position) == 2 and cursors.is_name(position[0])
            and cursors.is_seq(position[1]))


async def query(
    ctx: ServiceContext, *, chain: str | None = None, actor: str | None = None, action: str | None = None,
    since: str | None = None, until: str | None = None, cursor: str | None = None, limit: int = 50,
) -> tuple[list[dict], str | None]:
    """Entries newest first (per chain; across chains in key order of the
    chains), filtered; returns ``(entries, next)`` with ``next`` the cursor
    of the following page, None when there are no more. Times compare as RFC
    3339 strings. A cursor is one of this listing's (``cursors``): of
    ``chain``'s own listing, or of every chain's."""
    listing = cursors.listing(cursors.AUDIT, chain)
    position = cursors.decode(listing, cursor, cursors.is_seq if chain is not None else _is_chain_position)
    prefix = keys.audit_chain(chain) if chain else keys.AUDIT
    found: list[dict] = []
    after = _entry_key(position, chain) if position is not None else b""

    def page(more_after: bool) -> tuple[list[dict], str | None]:
        return found, cursors.encode(listing, _position(after, chain)) if more_after else None

    while len(found) < limit:
        kvs, more = await records.scan(ctx.client, prefix, start_after=after, limit=max(limit * 4, 100), descending=True)
        for kv in kvs:
            after = kv.key
            entry = entry_view(kv)
            if actor and entry.get("actor") != actor:
                continue
            if action and entry.get("action") != action:
                continue
            if since and entry.get("time", "") < since:
                continue
            if until and entry.get("time", "") > until:
                continue
            found.append(entry)
            if len(found) == limit:
                return page(more or kv is not kvs[-1])
        if not more:
            return page(False)
    return page(True)
