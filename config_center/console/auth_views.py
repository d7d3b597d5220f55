"""Logging in and out of the console: a signed session cookie naming the
user and a session the store holds (the same one the REST API accepts;
``service.sessions``), CSRF on every form."""
from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from config_center import service_host
from config_center.session_keys import SESSION_SECRET, SESSION_USER
from config_center.unavailable import STORE_FULL_ERRORS, STORE_FULL_MESSAGE, UNAVAILABLE_ERRORS
from config_center.service.errors import NotAuthenticatedError, TooManyAttemptsError

from .pages import client_address, unavailable


def _safe_next(request: HttpRequest, target: str) -> str:
    """Where to go after logging in: only a path on this site (an open
    redirect would let a phishing link bounce through our login)."""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                   require_https=request.is_secure()):
        return target
    return reverse("console-dashboard")


@require_http_methods(["GET", "HEAD", "POST"])
async def login(request: HttpRequest) -> HttpResponse:
    context = {"next": request.POST.get("next") or request.GET.get("next", ""), "errors": {}, "username": ""}
    if request.method != "POST":
        return render(request, "console/login.html", context)
    username = request.POST.get("username", "").strip()
    password = request.POST.get("password", "")
    context["username"] = username
    errors = {}
    if not username:
        errors["username"] = "Enter your user name."
    if not password:
        errors["password"] = "Enter your password."
    if errors:
        return render(request, "console/login.html", {**context, "errors": errors})
    service = service_host.bound_service()
    if service is None:
        return render(request, "console/error.html", {"message": "the config service is not running yet"},
                      status=503)
    try:
        principal = await service.login(username, password, client_address(request))
    except TooManyAttemptsError as error:
        response = render(request, "console/login.html", {**context, "errors": {"form": error.message}},
                          status=429)
        response["Retry-After"] = str(error.details["retry_after"])
        return response
    except NotAuthenticatedError as error:
        return render(request, "console/login.html", {**context, "errors": {"form": error.message}})
    except UNAVAILABLE_ERRORS as error:
        return unavailable(request, error)
    try:
        secret = await service.start_session(principal, lifetime=settings.SESSION_COOKIE_AGE)
    except UNAVAILABLE_ERRORS as error:
        return unavailable(request, error)
    except STORE_FULL_ERRORS:
        return render(request, "console/login.html", {**context, "errors": {"form": STORE_FULL_MESSAGE}}, status=507)
    # A new session key at login: a key planted before login is worthless.
    request.session.cycle_key()
    request.session[SESSION_USER], request.session[SESSION_SECRET] = principal.user, secret
    return HttpResponseRedirect(_safe_next(request, context["next"]))


@require_POST
async def logout(request: HttpRequest) -> HttpResponse:
    """End the session on every member, then forget the cookie."""
    service = service_host.bound_service()
    user, secret = request.session.get(SESSION_USER), request.session.get(SESSION_SECRET)
    if service is not None and user and secret:
        try:
            await service.end_session(user, secret)
        except UNAVAILABLE_ERRORS as error:
            return unavailable(request, error)
    request.session.flush()
    return HttpResponseRedirect(reverse("console-login"))
