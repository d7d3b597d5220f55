"""What every console view shares: the logged-in principal, the service,
rendering with the common context, and turning the service's refusals into
pages or into messages next to the fields they concern."""
from __future__ import annotations

import functools
import logging
from typing import Any, Awaitable, Callable
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from config_center import service_host
from config_center.session_keys import SESSION_SECRET, SESSION_USER
from config_center.unavailable import STORE_FULL_ERRORS, STORE_FULL_MESSAGE, UNAVAILABLE_ERRORS
from config_center.service.access import MANAGE, PUBLISH, DRAFT, Principal
from config_center.service.config_service import ConfigService
from config_center.service.errors import NotAuthenticatedError, ServiceError

logger = logging.getLogger(__name__)

View = Callable[..., Awaitable[HttpResponse]]


class Page:
    """One request to a console page: who is asking and the service to ask."""

    def __init__(self, request: HttpRequest, service: ConfigService, principal: Principal) -> None:
        self.request = request
        self.service = service
        self.principal = principal

    def can(self, ns: str) -> dict[str, bool]:
        """What the template may offer on ``ns`` (the service checks again)."""
        allowed = self.principal.allowed
        return {"draft": allowed(DRAFT, ns), "publish": allowed(PUBLISH, ns), "manage": allowed(MANAGE, ns)}

    def render(self, template: str, context: dict | None = None, *, status: int = 200) -> HttpResponse:
        full = {"me": self.principal, "is_admin": self.principal.is_superuser, **(context or {})}
        return render(self.request, template, full, status=status)


def client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "") or ""


def login_url(request: HttpRequest) -> str:
    return reverse("console-login") + "?" + urlencode({"next": request.get_full_path()})


def console_page(view: View) -> View:
    """Run ``view(page, ...)`` for a logged-in user; send others to the
    login page. A refusal the view does not handle itself becomes an error
    page with the service's status and message."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        service = service_host.bound_service()
        if service is None:
            return render(request, "console/error.html", {"message": "the config service is not running on this "
                                                          "node yet; retry in a moment"}, status=503)
        name = request.session.get(SESSION_USER)
        if not name:
            return HttpResponseRedirect(login_url(request))
        try:
            principal = await service.session_principal(name, request.session.get(SESSION_SECRET),
                                                        client_address(request))
        except NotAuthenticatedError:
            request.session.flush()
            return HttpResponseRedirect(login_url(request))
        except UNAVAILABLE_ERRORS as error:
            return unavailable(request, error)
        page = Page(request, service, principal)
        try:
            return await view(page, *args, **kwargs)
        except ServiceError as error:
            return page.render("console/error.html", {"message": error.message, "code": error.code},
                               status=error.status)
        except UNAVAILABLE_ERRORS as error:
            return unavailable(request, error)
        except STORE_FULL_ERRORS:
            return store_full(request)

    return wrapper


def store_full(request: HttpRequest) -> HttpResponse:
    return render(request, "console/error.html", {"message": STORE_FULL_MESSAGE, "code": "store_full"}, status=507)


def unavailable(request: HttpRequest, error: BaseException) -> HttpResponse:
    logger.info("console page unavailable: %s", error)
    response = render(request, "console/error.html",
                      {"message": "the store cannot serve this page now (no leader or a timeout); retry in a moment"},
                      status=503)
    response["Retry-After"] = "1"
    return response


# A form refused for bad input is shown again, with the messages next to its
# fields, with status 200 as Django's forms are: a browser logs every 4xx
# page it is sent as an error, and a mistyped field is not an error of the
# page. The REST API answers the same refusals with 4xx.


def field_errors(error: ServiceError, fields: list[str], aliases: dict[str, str] | None = None) -> dict[str, str]:
    """Place a refusal next to the form field it is about.

    The service's messages start with the name of what they refuse
    ("format must be one of ...", "retention.max_releases must be ...");
    a message that names none of ``fields`` goes to the form as a whole
    (key ``form``). ``aliases`` maps other leading words to a field
    (``{"namespace": "name"}``)."""
    message = error.message
    for word, field in (aliases or {}).items():
        if message.startswith(word + " "):
            return {field: message}
    for name in sorted(fields, key=len, reverse=True):
        if message.startswith(name + " ") or message.startswith(name + ".") or message.startswith(f"'{name}'"):
            return {name: message}
    return {"form": message}
