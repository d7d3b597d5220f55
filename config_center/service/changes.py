"""Every change the service makes is one audited, atomic store transaction.

A chain's head (``keys.head``) holds the number and hash of its last audit
entry and the number of its last release. A change reads the head, plans
its writes from what it then reads, and commits them in one transaction
together with its audit entry and the new head, on the condition that the
head is still the one it read. Every change of a namespace goes through
here, so an unchanged head means nothing the plan read has changed: the
change applies exactly as planned, or not at all and is planned again.

The head's mod_revision is therefore the namespace's revision: what a
client bases an edit or a publish on."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from consensus.mvcc.api import Compare, RangeRequest

from config_center.store import keys, records

from . import audit
from .context import Actor, ServiceContext
from .errors import UnavailableError

# Plans are retried when another change of the same chain commits first;
# only a sustained stream of changes to one namespace runs out of these.
MAX_ATTEMPTS = 20


@dataclass(frozen=True)
class Head:
    chain: str
    revision: int = 0  # 0: the chain never changed
    audit_seq: int = 0
    audit_hash: str = audit.GENESIS
    release_seq: int = 0


async def read_head(ctx: ServiceContext, chain: str) -> tuple[Head, int]:
    """The chain's head, read linearizably, and the store revision the read
    was answered at."""
    response = await ctx.client.range(RangeRequest(key=keys.head(chain)))
    if not response.kvs:
        return Head(chain), response.header.revision
    kv = response.kvs[0]
    value = records.decode(kv.value)
    return (Head(chain, kv.mod_revision, value["audit_seq"], value["audit_hash"], value["release_seq"]),
            response.header.revision)


@dataclass
class Plan:
    """What a change writes, and how the audit log describes it."""

    action: str
    target: str
    ops: list = field(default_factory=list)
    compares: list[Compare] = field(default_factory=list)
    comment: str = ""
    details: Any = None
    # Set when the change makes a release (its number: head.release_seq + 1).
    release_seq: int | None = None
    # Whatever the caller wants back once the change committed.
    result: Any = None


@dataclass(frozen=True)
class Committed:
    plan: Plan
    revision: int  # the store revision the transaction produced
    entry: dict


async def apply_change(
    ctx: ServiceContext, chain: str, actor: Actor, plan: Callable[[Head], Awaitable[Plan]],
) -> Committed:
    """Plan against the current head and commit, again while the head moves
    under the plan (another member's change). ``plan`` raises a
    ``ServiceError`` to refuse. Changes of one chain made by this process
    take turns (``ServiceContext.chain_lock``)."""
    async with ctx.chain_lock(chain):
        return await _apply(ctx, chain, actor, plan)


async def _apply(ctx: ServiceContext, chain: str, actor: Actor, plan: Callable[[Head], Awaitable[Plan]]) -> Committed:
    for _ in range(MAX_ATTEMPTS):
        head, at = await read_head(ctx, chain)
        # The plan reads as of the head's read: locally, and consistently
        # with it; the head compare below catches anything that changed.
        with records.read_at(at):
            planned = await plan(head)
        release_seq = planned.release_seq if planned.release_seq is not None else head.release_seq
        entry = audit.new_entry(
            chain=chain, seq=head.audit_seq + 1, prev=head.audit_hash, before=head.revision, actor=actor,
            time=ctx.now(), action=planned.action, target=planned.target, comment=planned.comment,
            details=planned.details,
        )
        new_head = {"audit_seq": entry["seq"], "audit_hash": entry["hash"], "release_seq": release_seq}
        response = await records.txn(
            ctx.client,
            [records.mod_revision_is(keys.head(chain), head.revision), *planned.compares],
            [*planned.ops, records.put(keys.head(chain), new_head), records.put(keys.audit_entry(chain, entry["seq"]), entry)],
        )
        if response.succeeded:
            return Committed(planned, response.header.revision, entry)
    raise UnavailableError(f"{chain} kept changing while this change was being applied; try again")
