"""What every view does: find the caller's principal and address, read
the revision a change is based on, and run the service call on the node's
loop."""
from __future__ import annotations

from typing import Any, Awaitable, Callable

from rest_framework import serializers
from rest_framework.request import Request

from config_center import service_host
from config_center.service.access import Principal
from config_center.service.config_service import ConfigService
from config_center.service.errors import InvalidError


def run(make: Callable[[ConfigService], Awaitable[Any]]) -> Any:
    return service_host.call(make)


def principal(request: Request) -> Principal:
    return request.auth


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or ""


def base_revision(request: Request, data: Any = None) -> int | None:
    """The revision a change is based on: ``If-Match`` (an ETag we sent, or
    a bare number) or a ``revision`` field; None when neither is given."""
    return revision_from(request.META.get("HTTP_IF_MATCH"), data)


def revision_from(header: str | None, data: Any) -> int | None:
    """``base_revision`` from an ``If-Match`` header's text and a body."""
    if header:
        text = header.strip()
        if text.startswith("W/"):
            text = text[2:]
        text = text.strip('"')
        if not text.isdigit():
            raise InvalidError("If-Match must hold a revision number (the ETag of what was read)")
        return int(text)
    if isinstance(data, dict) and "revision" in data:
        value = data["revision"]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise InvalidError("revision must be an integer")
        return value
    return None


def body(request: Request) -> dict:
    data = request.data
    if not isinstance(data, dict):
        raise InvalidError("the request body must be a JSON object")
    return data


def etag(revision: int) -> str:
    return f'"{revision}"'


class PageQuery(serializers.Serializer):
    """``cursor`` (the ``next`` of the previous page; opaque, checked by
    the listing, ``service.cursors``) and ``limit`` of a paged listing."""

    cursor = serializers.CharField(required=False, allow_blank=True, max_length=4096, trim_whitespace=False)

    def __init__(self, *args, default: int, maximum: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["limit"] = serializers.IntegerField(min_value=1, max_value=maximum, default=default)


def page_params(request: Request, *, default: int, maximum: int) -> tuple[str | None, int]:
    """A listing's ``(cursor, limit)`` from the query; ``InvalidError``
    naming the parameter when one is malformed."""
    query = PageQuery(data=request.query_params, default=default, maximum=maximum)
    if not query.is_valid():
        problems = {field: [str(message) for message in messages] for field, messages in query.errors.items()}
        if "limit" in problems:
            raise InvalidError(f"limit must be a number from 1 to {maximum}", problems)
        raise InvalidError("cursor is not one this listing gave out: send the 'next' of its previous page",
                           problems)
    return query.validated_data.get("cursor") or None, query.validated_data["limit"]
