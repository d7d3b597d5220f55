"""Typed reads over one ``NamespaceConfig``: key paths (dotted, as a
sequence, flat properties keys, list indexes, numeric YAML keys), defaults
for what is absent, errors for what is present but wrong, and parsed
values that callers cannot change under other readers."""
from __future__ import annotations

import pytest

from config_center_client import ConfigValueError, ItemNotFound, NamespaceConfig
from config_center_client.reader import ConfigReader, lookup


class OneNamespace(ConfigReader):
    """A reader over a fixed config: the client's reads without a client."""

    def __init__(self, items: dict[str, tuple[str, str]]) -> None:
        self._config = NamespaceConfig.from_json({
            "namespace": "a/b", "revision": 5, "release": 1,
            "items": {name: {"format": fmt, "content": content, "revision": 5} for name, (fmt, content) in items.items()},
        })

    def config(self, namespace):
        return self._config if namespace == "a/b" else None


@pytest.fixture
def reader():
    return OneNamespace({
        "app.yaml": ("yaml", "db:\n  pool: 5\n  hosts: [a, b]\n  timeout: 1.5\nports:\n  8080: web\n"
                             "debug: false\nempty:\nname: shop\n"),
        "app.properties": ("properties", "db.pool.size = 7\nfeature.on = Yes\nratio = 0.25\n"),
        "limits.json": ("json", '{"rps": 100, "list": [{"x": 1}], "flag": true}'),
        "motd.txt": ("text", "42"),
        "broken.json": ("json", "{nope"),
    })


def test_paths(reader):
    assert reader.get_int("a/b", "app.yaml", "db.pool") == 5
    assert reader.get_str("a/b", "app.yaml", "db.hosts.-1") == "b"
    assert reader.get_str("a/b", "app.yaml", "ports.8080") == "web"
    assert reader.get_float("a/b", "app.yaml", ("db", "timeout")) == 1.5
    assert reader.get_int("a/b", "app.properties", "db.pool.size") == 7
    assert reader.get_bool("a/b", "app.properties", "feature.on") is True
    assert reader.get_float("a/b", "app.properties", "ratio") == 0.25
    assert reader.get_int("a/b", "limits.json", "list.0.x") == 1
    assert reader.get_int("a/b", "motd.txt") == 42
    assert reader.get_str("a/b", "limits.json", "rps") == "100"
    assert lookup({"a.b": 1, "a": {"b": 2}}, "a.b") == 1  # the flat key wins
    with pytest.raises(KeyError):
        lookup({"a": [1]}, "a.3")


def test_defaults_for_what_is_absent(reader):
    assert reader.get("a/b", "nope.txt", default=None) is None
    assert reader.get("x/y", "app.yaml", default="d") == "d"
    assert reader.get_int("a/b", "app.yaml", "db.missing", default=3) == 3
    assert reader.get_int("a/b", "app.yaml", "empty", default=4) == 4  # null is absent
    assert reader.get_bool("a/b", "app.yaml", "name.deeper", default=True) is True
    assert reader.get_json("a/b", "nope.json", default={}) == {}
    with pytest.raises(ItemNotFound, match="pass default="):
        reader.get_int("a/b", "app.yaml", "db.missing")
    with pytest.raises(KeyError):  # ItemNotFound is a KeyError too
        reader.get("a/b", "nope.txt")


def test_errors_for_what_is_present_but_wrong(reader):
    with pytest.raises(ConfigValueError, match="app.yaml at 'name'"):
        reader.get_int("a/b", "app.yaml", "name", default=0)
    with pytest.raises(ConfigValueError, match="boolean"):
        reader.get_bool("a/b", "limits.json", "rps")
    with pytest.raises(ConfigValueError, match="integer"):
        reader.get_int("a/b", "limits.json", "flag")  # a boolean is not a number here
    with pytest.raises(ConfigValueError, match="a/b/broken.json"):
        reader.get_int("a/b", "broken.json", "x", default=1)
    with pytest.raises(ValueError):  # ConfigValueError is a ValueError too
        reader.get_json("a/b", "broken.json")


def test_parsed_values_are_the_callers_own(reader):
    reader.get_value("a/b", "app.yaml", "db")["pool"] = 99
    reader.get_json("a/b", "limits.json")["rps"] = 0
    assert reader.get_int("a/b", "app.yaml", "db.pool") == 5
    assert reader.get_json("a/b", "limits.json")["rps"] == 100
    assert reader.revision("a/b") == 5 and reader.revision("x/y") is None
