"""The JSON of etcd 3.4's gRPC gateway, to and from ``api`` dataclasses.

etcd 3.4 serves its v3 API as JSON on the client port (``POST /v3/kv/range``
and so on). This package is the one place that knows that JSON, so the store
can serve byte-for-byte what a real etcd would and the differential tests can
read a real etcd's answers into the same dataclasses the store returns.

Everything here was checked against etcd 3.4.23 (Debian bookworm), see
``tests/differential/test_json_codec.py``. One concept per module, each
documenting its part of the mapping:

- ``paths``: the gateway paths, the *kind* of request each serves
  (``PATHS``, ``kind_of``, ``path_of``), which kinds stream.
- ``fields``: proto3's JSON mapping of a scalar field (int64 as a decimal
  string, bytes as base64, enums by name, defaults omitted).
- ``messages``: field names and order of every message, the encoder and
  decoder that walk them, the hand-coded oneofs (``Compare``, txn ops).
- ``requests``: reading a request body (``parse_body``,
  ``request_from_json``) and writing one (``request_to_json``).
- ``responses``: ``response_to_json``, ``response_from_json``,
  ``stream_item``.
- ``streams``: the ``{"result": ...}`` line format of ``/v3/watch`` and
  ``/v3/lease/keepalive``, and the watch request oneof.
- ``errors``: error bodies and HTTP status (``error_to_json``,
  ``error_from_json``, ``http_status``) and ``RequestDecodeError``.
- ``go_json``: Go's ``encoding/json`` where Python's differs (numbers kept
  as written, Go's error wording).

Where this codec deliberately differs from the gateway (a JSON shape our
dataclasses cannot hold), it rejects the request with ``InvalidRequestError``
instead of guessing:

- an enum number with no name (``"sort_order": 7``; etcd accepts it and
  treats it as "neither ascending nor descending");
- ``null`` inside a repeated message field (etcd 3.4 drops the connection);
- the wording of JSON *syntax* errors only approximates Go's
  ``encoding/json`` (status and code are exact).

The messages etcd has but the store did not define at first (``HashRequest``,
``HashResponse``, ``HashKVRequest``, ``LeaseLeasesRequest``,
``WatchCancelRequest``, ``WatchProgressRequest``) live in ``api``; they are
re-exported here, as are the other ``api`` names this module has always
carried, so existing ``from consensus.mvcc.json_codec import X`` keeps working.
"""
from __future__ import annotations

# The api names this codec's namespace has always carried (``json_codec.LeaseStatus``
# and the like are used by callers); re-exported, not redefined.
from consensus.mvcc.api import (  # noqa: F401
    CompactedError,
    CompactionRequest,
    CompactionResponse,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DeleteRangeResponse,
    DuplicateKeyError,
    Event,
    EventType,
    FutureRevisionError,
    HashKVRequest,
    HashKVResponse,
    HashRequest,
    HashResponse,
    InvalidRequestError,
    KeyNotFoundError,
    KeyNotProvidedError,
    KeyTooLargeError,
    KeyValue,
    LeaseExistsError,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseKeepAliveRequest,
    LeaseKeepAliveResponse,
    LeaseLeasesRequest,
    LeaseLeasesResponse,
    LeaseNotFoundError,
    LeaseProvidedError,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    LeaseStatus,
    LeaseTTLTooLargeError,
    LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse,
    NoSpaceError,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    RequestTooLargeError,
    ResponseHeader,
    SortOrder,
    SortTarget,
    StoreError,
    TooManyOpsError,
    TxnRequest,
    TxnResponse,
    ValueProvidedError,
    WatchCancelRequest,
    WatchCreateRequest,
    WatchFilter,
    WatchProgressRequest,
    WatchResponse,
)
from consensus.mvcc.json_codec.errors import (
    RequestDecodeError,
    error_from_json,
    error_to_json,
    http_status,
)
from consensus.mvcc.json_codec.fields import base64_decode, base64_encode
from consensus.mvcc.json_codec.paths import PATHS, STREAMING_KINDS, kind_of, path_of
from consensus.mvcc.json_codec.requests import parse_body, request_from_json, request_to_json
from consensus.mvcc.json_codec.responses import response_from_json, response_to_json, stream_item

__all__ = [
    "PATHS",
    "STREAMING_KINDS",
    "HashRequest",
    "HashResponse",
    "HashKVRequest",
    "LeaseLeasesRequest",
    "WatchCancelRequest",
    "WatchProgressRequest",
    "parse_body",
    "request_from_json",
    "request_to_json",
    "kind_of",
    "path_of",
    "response_to_json",
    "response_from_json",
    "stream_item",
    "error_to_json",
    "error_from_json",
    "http_status",
]
