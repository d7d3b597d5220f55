"""Stop Twisted from parsing POST bodies that daphne hands on raw anyway.

Twisted's ``http.Request`` parses the ``Content-Type`` of every POST (with
the ``email`` package: about 100 µs a request here) to decide whether to
decode an urlencoded or multipart form into ``request.args``. daphne never
reads ``request.args``: it passes the body to the ASGI application as
bytes. Every ``POST /v3/...`` — each one carries ``Content-Type:
application/json`` from etcd's clients — paid for that parse; it was the
largest single cost of a gateway put (a put benchmark went from about 1,300
to 2,200 requests/s on the same loaded machine). Twisted has a switch for
it, ``Request(parsePOSTFormSubmission=False)``; daphne does not set it.

``skip_post_form_parsing()`` makes daphne build its requests with the
switch off, by replacing the request class its ``HTTPFactory`` uses (the
module-level name ``daphne.http_protocol.WebRequest``) with a subclass that
passes the flag. Nothing else changes: Django, the gateway and Channels all
read bodies through ASGI. It checks that daphne still looks the way this
relies on and raises ``RuntimeError`` otherwise, so an upgrade of daphne or
Twisted that moves things fails loudly instead of silently doing nothing.
Idempotent. Call it before daphne accepts connections (``config_center.asgi``
does, at import).
"""
from __future__ import annotations

import inspect


def skip_post_form_parsing() -> None:
    """Make daphne's HTTP requests skip Twisted's form parsing (module
    docstring). Raises ``RuntimeError`` if daphne or Twisted changed shape."""
    from daphne import http_protocol
    from twisted.web import http

    current = http_protocol.WebRequest
    if getattr(current, "skips_post_form_parsing", False):
        return
    if "parsePOSTFormSubmission" not in inspect.signature(http.Request.__init__).parameters:
        raise RuntimeError("twisted.web.http.Request no longer takes parsePOSTFormSubmission")
    if "protocol.requestFactory = WebRequest" not in inspect.getsource(http_protocol.HTTPFactory.buildProtocol):
        raise RuntimeError("daphne's HTTPFactory no longer builds requests from http_protocol.WebRequest")

    class RawBodyWebRequest(current):  # type: ignore[misc, valid-type]
        """daphne's request, without Twisted's POST form parsing."""

        skips_post_form_parsing = True

        def __init__(self, *args, **kwargs) -> None:
            kwargs["parsePOSTFormSubmission"] = False
            super().__init__(*args, **kwargs)

    RawBodyWebRequest.__name__ = RawBodyWebRequest.__qualname__ = current.__name__
    http_protocol.WebRequest = RawBodyWebRequest
