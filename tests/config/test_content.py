"""Item content: parsing each format with line/column errors, JSON Schema
violations by path, unified and structural diffs."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from config_center.content import diff, formats, schema
from config_center.content.formats import ContentError
from config_center.content.paths import join


# -- parsing -------------------------------------------------------------------------------------

def test_json_and_yaml_parse_to_the_same_data():
    assert formats.parse("json", '{"db": {"port": 5432, "hosts": ["a", "b"]}}') == {
        "db": {"port": 5432, "hosts": ["a", "b"]}
    }
    assert formats.parse("yaml", "db:\n  port: 5432\n  hosts: [a, b]\n") == {"db": {"port": 5432, "hosts": ["a", "b"]}}
    assert formats.parse("text", "anything { goes") == "anything { goes"


@pytest.mark.parametrize(
    "fmt, text, line, column",
    [
        ("json", '{\n  "a": 1,\n  "b": \n}', 4, 1),
        ("json", '{"a": 1,}', 1, 9),
        ("yaml", "a: 1\nb: [1, 2\nc: 3\n", 3, 2),
        ("yaml", "a: 1\n  b: 2\n", 2, 4),
        ("properties", "ok=1\nbad=\\u12G4\n", 2, 5),
    ],
)
def test_parse_errors_name_line_and_column(fmt, text, line, column):
    with pytest.raises(ContentError) as caught:
        formats.parse(fmt, text)
    error = caught.value
    assert (error.format, error.line, error.column) == (fmt, line, column)
    assert f"line {line}, column {column}" in str(error)
    assert error.as_dict()["line"] == line


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown format 'toml'"):
        formats.parse("toml", "a = 1")


def test_properties_follow_javas_rules():
    text = "\n".join([
        "# a comment",
        "! another",
        "   ",
        "plain=value",
        "colon: with colon",
        "blank separated   value here",
        "  indented.key = trimmed before, kept after  ",
        "multi = first \\",
        "        second \\",
        "   third",
        "escaped\\ key\\=x = tab\\there \\u00e9",
        "empty=",
        "lonely",
        "dup=1",
        "dup=2",
        "backslashes=ends with one \\\\",
        "next=not a continuation",
    ])
    assert formats.parse_properties(text) == {
        "plain": "value",
        "colon": "with colon",
        "blank": "separated   value here",
        "indented.key": "trimmed before, kept after  ",
        "multi": "first second third",
        "escaped key=x": "tab\there é",
        "empty": "",
        "lonely": "",
        "dup": "2",
        "backslashes": "ends with one \\",
        "next": "not a continuation",
    }


def _escape(s: str, key: bool) -> str:
    out = []
    for i, ch in enumerate(s):
        if ch == "\\":
            out.append("\\\\")
        elif ch in "\t\n\r\f":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f"}[ch])
        elif ch in "=:#!" or (ch == " " and (key or i == 0)):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) > 0x7E:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


@given(st.dictionaries(st.text(alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)), min_size=1),
                       st.text(alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)))))
def test_properties_written_with_escapes_read_back_unchanged(data):
    text = "\n".join(f"{_escape(k, True)}={_escape(v, False)}" for k, v in data.items())
    assert formats.parse_properties(text) == data


# -- schema ----------------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "required": ["port", "hosts"],
    "properties": {
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "hosts": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "odd key": {"type": "boolean"},
    },
    "additionalProperties": False,
}


def test_every_violation_is_listed_with_its_path():
    found = schema.violations(SCHEMA, {"port": 70000, "hosts": ["a", "", 3], "odd key": "yes", "extra": 1})
    paths = [v.path for v in found]
    assert paths == ['$', '$.hosts[1]', '$.hosts[2]', '$.port', '$["odd key"]']
    assert "70000 is greater than the maximum of 65535" in {v.message for v in found}
    assert any("extra" in v.message for v in found if v.path == "$")
    assert schema.violations(SCHEMA, {"port": 80, "hosts": ["x"]}) == []


def test_a_broken_schema_is_refused_with_where():
    with pytest.raises(schema.InvalidSchemaError, match=r"at \$\.properties\.port"):
        schema.check_schema({"properties": {"port": {"type": "integerish"}}})
    with pytest.raises(schema.InvalidSchemaError, match="JSON object"):
        schema.check_schema(["not", "a", "schema"])
    assert schema.check_schema(SCHEMA) is SCHEMA


# -- diff -------------------------------------------------------------------------------------------

def test_structural_diff_lists_added_removed_changed_paths():
    old = {"db": {"port": 5432, "hosts": ["a", "b"]}, "gone": True, "same": [1, {"x": None}]}
    new = {"db": {"port": 6432, "hosts": ["a"], "tls": {"on": True}}, "same": [1, {"x": None}], "flag": 1}
    changes = [c.as_dict() for c in diff.structural(old, new)]
    assert changes == [
        {"op": "changed", "path": "$.db.port", "old": 5432, "new": 6432},
        {"op": "removed", "path": "$.db.hosts[1]", "old": "b"},
        {"op": "added", "path": "$.db.tls", "new": {"on": True}},
        {"op": "removed", "path": "$.gone", "old": True},
        {"op": "added", "path": "$.flag", "new": 1},
    ]
    assert diff.structural(old, old) == []


def test_the_same_data_in_two_formats_has_no_structural_difference():
    as_json = formats.parse("json", '{"a": {"b": 1, "c": "x"}}')
    as_yaml = formats.parse("yaml", "a:\n  c: x\n  b: 1\n")
    assert diff.structural(as_json, as_yaml) == []
    # A type change is a change even when the values compare equal in Python.
    assert [c.op for c in diff.structural({"a": 1}, {"a": True})] == ["changed"]
    assert [c.path for c in diff.structural(1, "1")] == ["$"]


def test_unified_diff():
    text = diff.unified("a\nb\nc\n", "a\nB\nc", "live", "draft")
    assert text.startswith("--- live\n+++ draft\n")
    assert "-b\n-c\n+B\n+c\n" in text
    assert "-b\n+B\n" in diff.unified("a\nb\nc\n", "a\nB\nc\n")
    assert "\\ No newline at end of file" in text
    assert diff.unified("same\n", "same\n") == ""


def test_paths_quote_keys_that_are_not_identifiers():
    assert join(["a", 0, "b c", 'q"', "x-y"]) == '$.a[0]["b c"]["q\\""].x-y'
