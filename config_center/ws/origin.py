"""Which websocket handshakes may come from where.

A browser sends ``Origin`` with every websocket handshake, and with it the
cookies of the node's host, the console's session among them: a page served
from anywhere else could otherwise open a socket as the logged-in operator
and read whatever the operator may, secrets' plaintext included
(cross-site websocket hijacking). So a handshake that carries an ``Origin``
must name one of

- the node itself, as the handshake reached it: the scheme of the
  connection (``ws`` -> ``http``, ``wss`` -> ``https``) and the ``Host``
  header, whose host Django must allow (``ALLOWED_HOSTS``, as for HTTP;
  otherwise a page could give its own name to the node's address);
- an origin in ``ALLOWED_ORIGINS`` (``CONFIG_CENTER_ALLOWED_ORIGINS``), for
  pages served elsewhere, e.g. the console behind a proxy at
  ``https://console.example.com``.

The whole origin is compared: scheme, host and port. A cookie is sent to
every port of its host (RFC 6265, section 8.5), so comparing host names
only would hand the operator's socket to any other service on the node's
host (``http://127.0.0.1:9999``) or to a plain-HTTP page of an HTTPS
site. An ``Origin`` that is no origin (``null``, sent by sandboxed and
``file:`` pages) or more than one is refused.

Applications are not browsers: they send no ``Origin`` and authenticate
with a token in a header or in their first message, which no page can
attach for them, so a handshake without one is let through (Channels' own
validator would refuse it).

Every websocket passes this check (``config_center.asgi``), ``/ws/v1/watch``
too, although no cookie or anything else a browser adds by itself
authenticates it (its token is in the ``Authorization`` header, which a
page cannot set on a websocket): with store auth off, being able to reach
the node is all it asks, and a page in an operator's browser reaches nodes
on loopback or the intranet that its own site cannot. A websocket is not
subject to CORS, so without the check that page could read the store.

A refused handshake is answered HTTP 403 and reaches no application.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http.request import split_domain_port, validate_host

logger = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}
# The page's scheme for a handshake that came in over ws:// or wss://.
PAGE_SCHEMES = {"ws": "http", "wss": "https"}


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int


def parse_origin(text: str) -> Origin | None:
    """``text`` (``scheme://host[:port]``) as an ``Origin`` with its port
    filled in, or None if it is not one of an http or https page."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if (scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None
            or parts.password is not None or parts.path or parts.query or parts.fragment):
        return None
    return Origin(scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme])


class BrowserOriginValidator:
    """ASGI middleware: websocket handshakes with an ``Origin`` other than
    the node's own or an allowed one are refused (module docstring); all
    else goes to ``application``."""

    def __init__(self, application, *, allowed_hosts: Iterable[str], allowed_origins: Iterable[str]) -> None:
        self.application = application
        self.allowed_hosts = list(allowed_hosts)
        self.allowed_origins = frozenset(_configured(text) for text in allowed_origins)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "websocket" or self.allows(scope):
            await self.application(scope, receive, send)
            return
        if (await receive())["type"] == "websocket.connect":
            await send({"type": "websocket.close"})  # before accepting: the server answers 403

    def allows(self, scope) -> bool:
        origins = [value for name, value in scope.get("headers", ()) if name == b"origin"]
        if not origins:
            return True
        origin = parse_origin(origins[0].decode("latin-1")) if len(origins) == 1 else None
        if origin is not None and (origin in self.allowed_origins or origin == self.own_origin(scope)):
            return True
        logger.info("websocket handshake to %s from origin %r refused: neither this node (%r) nor in "
                    "CONFIG_CENTER_ALLOWED_ORIGINS", scope.get("path"), b", ".join(origins).decode("latin-1"),
                    self.own_origin(scope))
        return False

    def own_origin(self, scope) -> Origin | None:
        """The origin of the node as this handshake reached it, if its
        ``Host`` is one Django allows."""
        hosts = [value for name, value in scope.get("headers", ()) if name == b"host"]
        scheme = PAGE_SCHEMES.get(scope.get("scheme", "ws"))
        if len(hosts) != 1 or scheme is None:
            return None
        host = hosts[0].decode("latin-1")
        domain, _port = split_domain_port(host)
        if not domain or not validate_host(domain, self.allowed_hosts):
            return None
        return parse_origin(f"{scheme}://{host}")


def _configured(text: str) -> Origin:
    origin = parse_origin(text)
    if origin is None:
        raise ImproperlyConfigured(
            f"CONFIG_CENTER_ALLOWED_ORIGINS: {text!r} is not an origin; write scheme://host[:port], "
            "e.g. https://console.example.com (http or https, no path)")
    return origin


def browser_origin_validator(application):
    """``application`` behind the check, with the hosts Django allows and
    the origins configured."""
    allowed_hosts = settings.ALLOWED_HOSTS or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    return BrowserOriginValidator(application, allowed_hosts=allowed_hosts,
                                  allowed_origins=settings.ALLOWED_ORIGINS)
