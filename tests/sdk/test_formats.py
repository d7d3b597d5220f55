"""Parsing item content by format, and the documented properties subset."""
from __future__ import annotations

import pytest

from config_center_client import ConfigValueError, parse_properties
from config_center_client.formats import parse_content


def test_properties_subset():
    text = "\n".join([
        "# a comment",
        "   ! another comment",
        "",
        "a = 1",
        "b:2",
        "c=x=y",
        "bare",
        "long = first \\",
        "       second",
        "tab = one\\ttwo \\u00e9",
        "with\\=equals = v",
        "kept.space = end\\ ",
        "backslash = ends\\\\",
        "url = http://host:80/x # not a comment",
        "a = again",
    ])
    assert parse_properties(text) == {
        "a": "again", "b": "2", "c": "x=y", "bare": "", "long": "first second", "tab": "one\ttwo é",
        "with=equals": "v", "kept.space": "end ", "backslash": "ends\\", "url": "http://host:80/x # not a comment",
    }


def test_a_continuation_on_the_last_line_and_crlf_line_ends():
    assert parse_properties("a = 1\r\nb = 2 \\") == {"a": "1", "b": "2"}


def test_a_bad_unicode_escape_is_an_error():
    with pytest.raises(ConfigValueError, match="u escape"):
        parse_properties("a = \\u12")


def test_parse_content_by_format():
    assert parse_content("json", '{"a": [1, 2]}') == {"a": [1, 2]}
    assert parse_content("yaml", "a:\n  - 1\n  - 2\n") == {"a": [1, 2]}
    assert parse_content("properties", "a.b=1") == {"a.b": "1"}
    assert parse_content("text", "  as is \n") == "  as is \n"
    with pytest.raises(ConfigValueError, match="JSON"):
        parse_content("json", "{nope")
    with pytest.raises(ConfigValueError, match="YAML"):
        parse_content("yaml", "a: [1, 2")
    with pytest.raises(ConfigValueError, match="unknown item format"):
        parse_content("toml", "a = 1")
