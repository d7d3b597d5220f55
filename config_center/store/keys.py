"""Where the config service's records live in the store.

Everything is under ``SYSTEM_PREFIX + b"config/"``, so only ``root`` can
reach it through the raw store API. A namespace path may contain ``/`` but
never an empty segment, so ``//`` separates a namespace from the names in it
and a prefix range over one namespace never reaches into another (``a/b``'s
items do not start with ``a``'s prefix).

    config/ns/<ns>                  the namespace record (its settings)
    config/head/<chain>             a chain's counters: last audit entry (seq,
                                    hash) and last release; every change of a
                                    namespace rewrites its head in the same
                                    transaction, so the head's mod_revision is
                                    the namespace's revision
    config/live/<ns>//item/<name>   a live (published) item
    config/live/<ns>//canary        the namespace's canary release, while
                                    one runs; everything an application may
                                    be served is under ``config/live/<ns>//``,
                                    so one watch of that prefix sees it all
    config/draft/<ns>//<name>       a drafted change of an item
    config/release/<ns>//<seq>      a release, seq zero-padded to 12 digits
    config/blob/<ns>//<sha256>      content, immutable, addressed by its hash
    config/audit/<chain>//<seq>     an audit entry; a namespace's chain is
                                    named after it, the rest is in "_global"
    config/delivery/<ns>//<member>/<chunk>
                                    one member's delivery tracking of a
                                    namespace (service.delivery), rewritten
                                    every few seconds while it has subscribers
    config/registry/<service>//<id> a registered instance of a service, on
                                    its lease (service.registry)
    config/user/<name>              a console / API user (password hash, grants)
    config/token/<id>               an API token (hash of its secret, scope)
    config/session/<user>//<digest> a login session (service.sessions)

Release history and blobs are plain keys, not the MVCC history of the item
keys: compacting the store never removes them.
"""
from __future__ import annotations

from consensus.mvcc.system_keys import SYSTEM_PREFIX

ROOT = SYSTEM_PREFIX + b"config/"
SEPARATOR = b"//"
SEQ_DIGITS = 12
GLOBAL_CHAIN = "_global"


def prefix_end(prefix: bytes) -> bytes:
    """etcd's range end for every key starting with ``prefix``."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


def namespace(ns: str) -> bytes:
    return ROOT + b"ns/" + ns.encode()


NAMESPACES = ROOT + b"ns/"


def _in(kind: bytes, ns: str) -> bytes:
    return ROOT + kind + b"/" + ns.encode() + SEPARATOR


def live(ns: str) -> bytes:
    """Everything applications of ``ns`` may be served: live items, canary."""
    return _in(b"live", ns)


def items(ns: str) -> bytes:
    return live(ns) + b"item/"


def canary(ns: str) -> bytes:
    return live(ns) + b"canary"


def item(ns: str, name: str) -> bytes:
    return items(ns) + name.encode()


def drafts(ns: str) -> bytes:
    return _in(b"draft", ns)


def draft(ns: str, name: str) -> bytes:
    return drafts(ns) + name.encode()


def releases(ns: str) -> bytes:
    return _in(b"release", ns)


def release(ns: str, seq: int) -> bytes:
    return releases(ns) + b"%0*d" % (SEQ_DIGITS, seq)


def blobs(ns: str) -> bytes:
    return _in(b"blob", ns)


def blob(ns: str, digest: str) -> bytes:
    return blobs(ns) + digest.encode()


AUDIT = ROOT + b"audit/"


HEADS = ROOT + b"head/"


def head(chain: str) -> bytes:
    return HEADS + chain.encode()


def audit_chain(chain: str) -> bytes:
    return _in(b"audit", chain)


def audit_entry(chain: str, seq: int) -> bytes:
    return audit_chain(chain) + b"%0*d" % (SEQ_DIGITS, seq)


def deliveries(ns: str) -> bytes:
    return _in(b"delivery", ns)


def delivery_chunk(ns: str, member: str, chunk: int) -> bytes:
    return deliveries(ns) + member.encode() + b"/%04d" % chunk


REGISTRY = ROOT + b"registry/"


def registry_instances(service: str) -> bytes:
    return _in(b"registry", service)


def registry_instance(service: str, instance_id: str) -> bytes:
    return registry_instances(service) + instance_id.encode()


def name_after(prefix: bytes, key: bytes) -> str:
    """The last part of ``key`` (an item name, a digest, a seq) under ``prefix``."""
    return key[len(prefix):].decode()


USERS = ROOT + b"user/"
TOKENS = ROOT + b"token/"


def user(name: str) -> bytes:
    return USERS + name.encode()


def token(token_id: str) -> bytes:
    return TOKENS + token_id.encode()


SESSIONS = ROOT + b"session/"


def sessions(user_name: str) -> bytes:
    return _in(b"session", user_name)


def session(user_name: str, digest: str) -> bytes:
    return sessions(user_name) + digest.encode()
