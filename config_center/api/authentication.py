"""Who is calling: an API token (``Authorization: Bearer cct_...``) or a
console session (a signed cookie naming the user and a session the store
holds, ``service.sessions``, with Django's CSRF check on unsafe methods).
Both resolve to the service's ``Principal``, re-read from the store on every
request, so a revoked token, an ended session or a changed grant takes
effect at once."""
from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication

from config_center.service.access import Principal
from config_center.service.errors import NotAuthenticatedError

from .calls import client_address, run

from config_center.session_keys import SESSION_SECRET, SESSION_USER


class ApiUser:
    """``request.user`` for an authenticated caller."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.username = principal.user

    def __str__(self) -> str:
        return self.principal.actor.name


class ApiTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith(self.keyword + " "):
            return None
        raw = header[len(self.keyword) + 1:].strip()
        address = client_address(request)
        try:
            principal = run(lambda service: service.token_principal(raw, address))
        except NotAuthenticatedError as error:
            raise exceptions.AuthenticationFailed(error.message) from None
        return ApiUser(principal), principal

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="config_center"'


class StoreSessionAuthentication(SessionAuthentication):
    def authenticate(self, request):
        session = request._request.session
        name = session.get(SESSION_USER)
        if not name:
            return None
        secret, address = session.get(SESSION_SECRET), client_address(request)
        try:
            principal = run(lambda service: service.session_principal(name, secret, address))
        except NotAuthenticatedError as error:
            request._request.session.flush()
            raise exceptions.AuthenticationFailed(error.message) from None
        self.enforce_csrf(request)
        return ApiUser(principal), principal
