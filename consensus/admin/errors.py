"""What can go wrong for an operator's command, as exceptions whose message
is the whole story (what was wrong, what to do). The management commands
turn each into a ``CommandError`` with ``exit_status``.
"""
from __future__ import annotations

# Exit statuses, as ``runnode`` uses them: 2 for a bad argument (nothing was
# done), 1 for an operation that failed.
EXIT_FAILED = 1
EXIT_USAGE = 2


class AdminError(Exception):
    """An operation failed; ``str(error)`` is the message for the operator."""

    exit_status = EXIT_FAILED


class UsageError(AdminError):
    """A bad argument, refused before anything was sent or written.
    ``argument`` is the flag (``--peer-url``) or positional name (``FILE``)."""

    exit_status = EXIT_USAGE

    def __init__(self, argument: str, reason: str) -> None:
        self.argument = argument
        self.reason = reason
        super().__init__(f"{argument}: {reason}")


class UnreachableError(AdminError):
    """No endpoint answered; the message lists each one tried and why."""


class OutcomeUnknownError(AdminError):
    """A change was sent but its answer was lost (connection dropped or timed
    out after the request went out): it may or may not have been applied."""


class GatewayError(AdminError):
    """A node answered with an error: ``status`` (HTTP), ``code`` (gRPC) and
    ``text`` (etcd's message), from ``endpoint``."""

    def __init__(self, endpoint: str, status: int, code: int, text: str) -> None:
        self.endpoint = endpoint
        self.status = status
        self.code = code
        self.text = text
        super().__init__(f"{endpoint} refused the request: {text} (gRPC code {code}, HTTP {status})")
