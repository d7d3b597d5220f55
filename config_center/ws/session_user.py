"""The console user and session a websocket handshake's cookie names, if any.

The console's pages subscribe to live changes with the same signed cookie
they were served with; no token is ever handed to the page's script. A
browser's handshake from another site is refused before this runs
(``origin.py``), so a cookie here was sent by one of our own pages. Whether
the session is still running is the service's to say (``sessions``).
"""
from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from importlib import import_module

from django.conf import settings

from config_center.session_keys import SESSION_SECRET, SESSION_USER


def session_user(scope) -> tuple[str, str | None] | None:
    """``(user, session secret)`` of the handshake's cookie, or None."""
    raw = b"; ".join(value for name, value in scope.get("headers", ()) if name == b"cookie")
    if not raw:
        return None
    try:
        cookies = SimpleCookie(raw.decode("latin-1"))
    except CookieError:
        return None
    morsel = cookies.get(settings.SESSION_COOKIE_NAME)
    if morsel is None:
        return None
    # The signed-cookie backend only checks a signature: no I/O on the loop.
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=morsel.value)
    name = store.get(SESSION_USER)
    return (name, store.get(SESSION_SECRET)) if isinstance(name, str) and name else None
