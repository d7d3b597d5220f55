"""The service's refusals. Each carries an HTTP status and a stable code so
the REST API can answer ``{"code", "message", "details"}`` without knowing
the rules; nothing is written when one is raised."""
from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self) -> dict:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class InvalidError(ServiceError):
    status = 400
    code = "invalid"


class ContentInvalidError(ServiceError):
    """Content that does not parse (details: format, line, column)."""

    status = 400
    code = "invalid_content"


class SchemaViolationError(ServiceError):
    """Items that break the namespace's JSON Schema (details: per item, every
    violation with its path)."""

    status = 400
    code = "schema_violation"


class NotFoundError(ServiceError):
    status = 404
    code = "not_found"


class NotAuthenticatedError(ServiceError):
    """No valid credentials (wrong password, unknown, expired or revoked token)."""

    status = 401
    code = "unauthenticated"


class ForbiddenError(ServiceError):
    status = 403
    code = "forbidden"


class ConflictError(ServiceError):
    """The change was based on a revision that is no longer current
    (details: the current revision, and a diff against it)."""

    status = 409
    code = "conflict"


class AlreadyExistsError(ServiceError):
    status = 409
    code = "already_exists"


class LimitError(ServiceError):
    status = 413
    code = "limit_exceeded"


class UnavailableError(ServiceError):
    """The store cannot take the change now (no leader, timeout, contention);
    retrying later may succeed."""

    status = 503
    code = "unavailable"


class TooManyAttemptsError(ServiceError):
    """Refused before it was checked: too many recent failures of the same
    kind (details: ``retry_after``, in seconds)."""

    status = 429
    code = "too_many_attempts"
