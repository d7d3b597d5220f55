"""etcd v3's auth model for the replicated store: users, roles, key-range
permissions, tokens, and the ``/v3/auth/*`` JSON endpoints.

Layering (``tests/auth/test_auth_layering.py`` enforces it). Two halves:

- The *replicated* half is applied from the Raft log by the MVCC state
  machine, in the same SQLite transaction as the key-value data, and is
  therefore imported by ``consensus.mvcc``: ``api`` (messages and etcd's
  errors), ``commands`` (what a log entry carries), ``auth_state`` (the
  immutable state and the deterministic rules that change it),
  ``auth_store`` (that state's rows in the store's database). These depend
  only on ``consensus.mvcc.api`` and ``consensus.mvcc.backend`` and never on
  the state machine, so there is no import cycle: the state machine owns an
  ``AuthStore``, always, and every member decodes and applies auth entries
  alike (there is nothing to forget to wire).
- The *serving* half sits above the state machine: ``permissions`` (etcd's
  range checks plus the system-prefix rule), ``passwords``, ``tokens``,
  ``authorizer`` (the gateway's ``Authorizer`` seam), ``service`` (async
  operations that propose commands), ``json_messages`` + ``routes`` (the
  gateway's JSON), ``bootstrap`` (the first root user).

This ``__init__`` imports nothing, so importing ``consensus.auth.auth_store``
from the state machine does not drag in the serving half.
"""
