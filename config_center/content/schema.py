"""A namespace's JSON Schema, checked against the parsed data of its items
when they are published (``jsonschema``, draft 2020-12 unless the schema's
``$schema`` names another draft).

Every violation is reported, each with the path of the offending value
(``paths`` notation) and jsonschema's message, so one publish attempt shows
the operator all there is to fix."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from .paths import join


class InvalidSchemaError(ValueError):
    """The schema itself is not a valid JSON Schema."""


@dataclass(frozen=True)
class Violation:
    path: str
    message: str

    def as_dict(self) -> dict:
        return {"path": self.path, "message": self.message}


def check_schema(schema: Any) -> dict:
    """``schema`` if it is a valid JSON Schema document (an object)."""
    if not isinstance(schema, dict):
        raise InvalidSchemaError("a JSON Schema must be a JSON object")
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        validator.check_schema(schema)
    except SchemaError as error:
        where = join(error.path)
        raise InvalidSchemaError(f"invalid JSON Schema at {where}: {error.message}") from None
    return schema


def violations(schema: dict, data: Any) -> list[Violation]:
    """Every way ``data`` breaks ``schema``, ordered by path."""
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    found = [Violation(join(error.absolute_path), error.message) for error in validator.iter_errors(data)]
    return sorted(found, key=lambda v: (v.path, v.message))
