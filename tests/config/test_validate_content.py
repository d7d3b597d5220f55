"""What the editor's validation as you type answers: the same rules as a
save and a publish, as a report; nothing written."""
from __future__ import annotations

import pytest

from config_center.service.access import Principal
from config_center.service.errors import ForbiddenError, InvalidError, NotFoundError

from .test_access import ROOT, run

SCHEMA = {"type": "object", "properties": {"port": {"type": "integer"}}, "required": ["port"]}


def test_syntax_errors_with_their_line_and_schema_violations_by_path(tmp_path):
    async def body(service, ctx):
        await service.create_namespace(ROOT, "shop/prod", {"schema": SCHEMA})
        broken = await service.validate_content(ROOT, "shop/prod", "yaml", "port: 1\nhosts: [a, b\nx: 1\n")
        assert not broken["ok"] and broken["schema"] == []
        [error] = broken["errors"]
        assert error["line"] == 3 and error["message"].startswith("invalid yaml: ")
        assert "line" not in error["message"]  # the place is in line/column, not repeated
        wrong = await service.validate_content(ROOT, "shop/prod", "json", '{"port": "eighty"}')
        assert not wrong["ok"] and wrong["errors"] == [] and [v["path"] for v in wrong["schema"]] == ["$.port"]
        assert (await service.validate_content(ROOT, "shop/prod", "json", '{"port": 80}'))["ok"]
        # Text is not checked against a schema.
        assert (await service.validate_content(ROOT, "shop/prod", "text", "anything"))["ok"]
        viewer = Principal("v", (("viewer", "shop/*"),))
        assert (await service.validate_content(viewer, "shop/prod", "yaml", "port: 1\n"))["ok"]
        with pytest.raises(ForbiddenError):
            await service.validate_content(Principal("o", (("viewer", "bank/*"),)), "shop/prod", "yaml", "a: 1")
        with pytest.raises(InvalidError, match="format must be one of"):
            await service.validate_content(ROOT, "shop/prod", "toml", "a = 1")
        with pytest.raises(InvalidError, match="content must be a string"):
            await service.validate_content(ROOT, "shop/prod", "yaml", 42)
        with pytest.raises(NotFoundError):
            await service.validate_content(ROOT, "shop/none", "yaml", "a: 1")
        assert (await service.list_items(ROOT, "shop/prod")) == []

    run(tmp_path, body)
