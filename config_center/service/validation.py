"""Checking an item's content before it is saved: the editor asks as the
operator types. The same rules as a save (syntax, size) and a publish (the
namespace's JSON Schema), answered as a report instead of a refusal, and
nothing is written."""
from __future__ import annotations

from typing import Any

from config_center.content import formats, schema
from config_center.content.formats import ContentError

from . import namespaces
from .context import ServiceContext
from .errors import InvalidError


async def check(ctx: ServiceContext, ns: str, fmt: Any, content: Any) -> dict:
    """``{"ok", "errors": [{message, line, column}], "schema": [{path,
    message}]}``; schema violations are only looked for in content that
    parses."""
    if fmt not in formats.FORMATS:
        raise InvalidError(f"format must be one of {', '.join(formats.FORMATS)}")
    if not isinstance(content, str):
        raise InvalidError("content must be a string (the file as written)")
    record = await namespaces.get(ctx, ns)
    errors: list[dict] = []
    violations: list[dict] = []
    size = len(content.encode())
    if size > ctx.limits.max_item_bytes:
        errors.append({"message": f"content is {size} bytes; the limit is {ctx.limits.max_item_bytes}",
                       "line": None, "column": None})
    try:
        data = formats.parse(fmt, content)
    except ContentError as error:
        errors.append({"message": f"invalid {fmt}: {error.reason}", "line": error.line, "column": error.column})
    else:
        if record.get("schema") and fmt in formats.STRUCTURED:
            violations = [v.as_dict() for v in schema.violations(record["schema"], data)]
    return {"ok": not errors and not violations, "errors": errors, "schema": violations}
