"""The errors that mean "this member cannot serve that now; retry" (no
leader, a timeout, the service not started yet), whichever edge meets them:
the REST API answers 503, the console a page saying so."""
from __future__ import annotations

import concurrent.futures

from config_center.service_host import ServiceUnavailableError
from config_center.store.client import StoreUnavailableError
from consensus.node import NotLeaderError

UNAVAILABLE_ERRORS = (NotLeaderError, StoreUnavailableError, ServiceUnavailableError, TimeoutError,
                      concurrent.futures.TimeoutError)
