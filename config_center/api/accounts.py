"""Logging in and out, users, and API tokens.

    POST   /api/v1/auth/login          {username, password} -> session cookie + CSRF token
    POST   /api/v1/auth/logout
    GET    /api/v1/auth/me
    GET    /api/v1/users               (administrators)
    POST   /api/v1/users               {name, password, grants}
    PATCH  /api/v1/users/<name>        {password} yourself; {grants, disabled} administrators
    DELETE /api/v1/users/<name>
    GET    /api/v1/tokens              your tokens (all, for administrators)
    POST   /api/v1/tokens              {name, namespaces, access, expires_in_days} -> the token, shown once
    DELETE /api/v1/tokens/<id>         revoke
"""
from __future__ import annotations

from django.conf import settings
from django.middleware.csrf import get_token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config_center.session_keys import SESSION_SECRET, SESSION_USER

from .calls import body, client_address, page_params, principal, run


def _who(p) -> dict:
    return {"user": p.user, "grants": [{"role": r, "namespaces": n} for r, n in p.grants],
            "administrator": p.is_superuser, "token": p.token_id}


class Login(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def post(self, request):
        data = body(request)
        address = client_address(request)
        p = run(lambda s: s.login(data.get("username"), data.get("password"), address))
        secret = run(lambda s: s.start_session(p, lifetime=settings.SESSION_COOKIE_AGE))
        session = request._request.session
        session.cycle_key()
        session[SESSION_USER], session[SESSION_SECRET] = p.user, secret
        return Response({**_who(p), "csrf_token": get_token(request._request)})


class Logout(APIView):
    def post(self, request):
        """End this session on every member (a copy of its cookie is
        worthless from now on); with an API token, nothing to end."""
        session = request._request.session
        user, secret = session.get(SESSION_USER), session.get(SESSION_SECRET)
        if user and secret:
            run(lambda s: s.end_session(user, secret))
        session.flush()
        return Response({"logged_out": True})


class Me(APIView):
    def get(self, request):
        return Response(_who(principal(request)))


def _page(request) -> tuple[str | None, int]:
    return page_params(request, default=100, maximum=500)


class UserList(APIView):
    def get(self, request):
        """Users in name order (``cursor``, ``limit``)."""
        p = principal(request)
        cursor, limit = _page(request)
        return Response(run(lambda s: s.list_users(p, cursor=cursor, limit=limit)))

    def post(self, request):
        p = principal(request)
        data = body(request)
        created = run(lambda s: s.create_user(p, data.get("name"), data.get("password"), data.get("grants", [])))
        return Response(created, status=201)


class UserDetail(APIView):
    def patch(self, request, name):
        p = principal(request)
        data = body(request)
        changes = {k: data[k] for k in ("password", "grants", "disabled") if k in data}
        return Response(run(lambda s: s.update_user(p, name, **changes)))

    def delete(self, request, name):
        p = principal(request)
        run(lambda s: s.delete_user(p, name))
        return Response(status=204)


class TokenList(APIView):
    def get(self, request):
        """Tokens in id order (``cursor``, ``limit``)."""
        p = principal(request)
        cursor, limit = _page(request)
        return Response(run(lambda s: s.list_tokens(p, cursor=cursor, limit=limit)))

    def post(self, request):
        p = principal(request)
        data = body(request)
        created = run(lambda s: s.create_token(
            p, name=data.get("name"), namespaces=data.get("namespaces"), access_level=data.get("access"),
            expires_in_days=data.get("expires_in_days")))
        return Response(created, status=201)


class TokenDetail(APIView):
    def delete(self, request, token_id):
        p = principal(request)
        return Response(run(lambda s: s.revoke_token(p, token_id)))
