"""The wire protocol of ``/ws/v1/config`` as this SDK speaks it: the
websocket URL of a member, the messages the client sends, the close codes it
acts on, and the message types it receives. Also the base URL of a
member's REST API, which the registry helpers use.

Every server message about a namespace carries ``revision``, a store
revision of the cluster: subscribing again with ``since=<revision>``
continues exactly after it, on any member. The client therefore keeps, per
namespace, the revision of the last message it applied, and that is all it
needs to resume.
"""
from __future__ import annotations

import json
import re
from urllib.parse import urlsplit, urlunsplit

SDK_NAME = "config_center_client"
SDK_VERSION = "0.1.0"

WS_PATH = "/ws/v1/config"

# Close codes the client acts on.
CLOSE_UNAUTHENTICATED = 4001  # the token was refused: do not retry it forever
CLOSE_SLOW_CONSUMER = 4008  # we read too slowly: resume from our own revisions
CLOSE_TRY_AGAIN_LATER = 1013  # the member's config service is not running yet
CLOSE_SERVICE_RESTART = 1012  # the member is stopping: go to another
CLOSE_GOING_AWAY = 1001

# Server -> client message types.
WELCOME = "welcome"
SNAPSHOT = "snapshot"
CHANGE = "change"
RESYNC = "resync"
DELETED = "deleted"
PROGRESS = "progress"
STATUS = "status"
ERROR = "error"
UNSUBSCRIBED = "unsubscribed"
# ... about a service's instances (they carry "service" instead of
# "namespace"; resync and progress are shared with namespaces).
INSTANCES = "instances"
INSTANCE_CHANGE = "instance_change"
SERVICE_MESSAGES = frozenset({INSTANCES, INSTANCE_CHANGE, RESYNC, PROGRESS})

# The server refuses a resume point it never gave out (the client's state
# comes from another cluster): subscribe again without ``since``.
SINCE_AHEAD = "since_ahead"

# Error codes after which subscribing again cannot succeed with the same
# token and name; anything else (unavailable, internal, ...) is worth a retry.
PERMANENT_ERRORS = frozenset({"forbidden", "not_found", "limit", "limit_exceeded"})


def ws_url(base_url: str) -> str:
    """The live-config websocket URL of the member at ``base_url``.

    ``http://host:port[/prefix]`` becomes ``ws://host:port[/prefix]/ws/v1/config``
    (``https`` becomes ``wss``); a ``ws``/``wss`` URL is taken as the
    websocket URL itself, with the path added when it has none. Raises
    ``ValueError`` for anything else, at construction time rather than at
    the first reconnect.
    """
    parts = urlsplit(base_url.strip())
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise ValueError(f"{base_url!r} is not a member URL; give http(s)://host:port of a config_center member")
    path = parts.path.rstrip("/")
    if not path.endswith(WS_PATH):
        path += WS_PATH
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def rest_url(base_url: str) -> str:
    """The base URL of the REST API (``.../api/v1``) of the member at
    ``base_url``, which may be given as its http(s) base URL or as its
    websocket URL (``ws://host:port/ws/v1/config``)."""
    parts = urlsplit(ws_url(base_url))
    scheme = "https" if parts.scheme == "wss" else "http"
    path = parts.path[:-len(WS_PATH)]
    return urlunsplit((scheme, parts.netloc, path + "/api/v1", "", ""))


def encode(message: dict) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def hello(instance: dict) -> str:
    """Who this client is; the token travels in the handshake header."""
    return encode({"type": "hello", "instance": instance})


def subscribe(namespace: str, since: int | None) -> str:
    message: dict = {"type": "subscribe", "namespace": namespace}
    if since is not None:
        message["since"] = since
    return encode(message)


def subscribe_service(service: str, since: int | None) -> str:
    message: dict = {"type": "subscribe", "service": service}
    if since is not None:
        message["since"] = since
    return encode(message)


def ack(namespace: str, revision: int) -> str:
    return encode({"type": "ack", "namespace": namespace, "revision": revision})


_RESUME_REASON = re.compile(r"since=(\{.*\})")


def resume_points(reason: str) -> dict[str, int]:
    """The ``since={"ns": rev, ...}`` a slow-consumer close reason carries
    (the server may cut it to fit a close frame: what cannot be parsed is
    left out). The client resumes from its own applied revisions anyway;
    this is for the log."""
    match = _RESUME_REASON.search(reason or "")
    if not match:
        return {}
    try:
        points = json.loads(match.group(1))
    except ValueError:
        return {}
    return {ns: rev for ns, rev in points.items() if isinstance(ns, str) and isinstance(rev, int)}
