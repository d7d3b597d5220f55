"""The config service: namespaces, items, drafts, releases, diffs, rollback,
retention and the audit log, over the store client interface
(``config_center.store``). Views, consumers and commands call this layer;
it never touches Raft or the state machine directly."""
