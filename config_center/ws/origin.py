"""Which websocket handshakes may come from where.

A browser always sends ``Origin`` with a websocket handshake, and it sends
the console's session cookie with it too: a page on another site could
otherwise open a socket as the logged-in operator (cross-site websocket
hijacking). So a handshake that carries an ``Origin`` must come from one of
``ALLOWED_HOSTS``. Applications are not browsers: they send no ``Origin``
and authenticate with an API token, which no other site can attach, so a
handshake without one is let through (Channels' own validator refuses it).
"""
from __future__ import annotations

from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):
    def valid_origin(self, parsed_origin) -> bool:
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)


def browser_origin_validator(application):
    """``application`` behind the check, with the hosts Django allows."""
    allowed = settings.ALLOWED_HOSTS or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    return BrowserOriginValidator(application, allowed)
