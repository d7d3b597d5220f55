"""The errors that mean "this member cannot serve that now; retry" (no
leader, a timeout, the service not started yet), whichever edge meets them:
the REST API answers 503, the console a page saying so; and the one that
means "the store is full"."""
from __future__ import annotations

import concurrent.futures

from config_center.service_host import ServiceUnavailableError
from config_center.store.client import StoreUnavailableError
from consensus.mvcc.api import NoSpaceError
from consensus.node import NotLeaderError

UNAVAILABLE_ERRORS = (NotLeaderError, StoreUnavailableError, ServiceUnavailableError, TimeoutError,
                      concurrent.futures.TimeoutError)

# The store refuses what adds data (its quota, a NOSPACE alarm): not
# retryable until an operator frees space; the REST API answers 507, the
# console a page saying what to do.
STORE_FULL_ERRORS = (NoSpaceError,)
STORE_FULL_MESSAGE = ("the store is over its quota (a NOSPACE alarm is raised): nothing that adds data can be "
                      "saved, sessions included, until an operator compacts it, defragments it and disarms the "
                      "alarm (etcdctl compaction, defrag, alarm disarm)")
