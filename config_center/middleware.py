"""Django's stock middleware, run inline on the event loop.

Under ASGI, Django calls a synchronous middleware hook (``process_request``,
``process_view``, ``process_response``) through ``sync_to_async``: a hop to
a worker thread and back for every hook of every middleware on every
request. With the five below that was about ten hops per request, and most
of the 2.3 ms of CPU a trivial view cost a node (434 requests/s for
``/version``). None of these hooks does I/O here — sessions are signed
cookies, nothing touches a database — so each class below runs the stock
hooks directly in the coroutine instead. Behaviour is Django's own; only
the thread hop is gone.
"""
from __future__ import annotations

from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware


class _Inline:
    """Run the stock synchronous hooks in the request's coroutine."""

    sync_capable = True
    async_capable = True

    async def __acall__(self, request):
        response = None
        process_request = getattr(self, "process_request", None)
        if process_request is not None:
            response = process_request(request)
        if response is None:
            response = await self.get_response(request)
        process_response = getattr(self, "process_response", None)
        if process_response is not None:
            response = process_response(request, response)
        return response


class InlineSecurityMiddleware(_Inline, SecurityMiddleware):
    pass


class InlineSessionMiddleware(_Inline, SessionMiddleware):
    pass


class InlineCommonMiddleware(_Inline, CommonMiddleware):
    pass


class InlineCsrfViewMiddleware(_Inline, CsrfViewMiddleware):
    async def process_view(self, request, callback, callback_args, callback_kwargs):
        return CsrfViewMiddleware.process_view(self, request, callback, callback_args, callback_kwargs)


class InlineXFrameOptionsMiddleware(_Inline, XFrameOptionsMiddleware):
    pass
