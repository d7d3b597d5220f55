"""Response bodies: exactly the JSON etcd 3.4's gateway writes for a
response, and a gateway answer read back into the response dataclass."""
from __future__ import annotations

from typing import Any

from consensus.mvcc.json_codec.messages import decode_message, encode_message
from consensus.mvcc.json_codec.paths import RESPONSE_TYPE, resolve_kind
from consensus.mvcc.json_codec.streams import stream_line, stream_result


def response_to_json(response: Any) -> dict:
    """Exactly the JSON object etcd 3.4's gateway writes for ``response``
    (for the streaming kinds: the object inside ``{"result": ...}``)."""
    if type(response) not in RESPONSE_TYPE.values():
        raise TypeError(f"{type(response).__name__} is not a response this codec knows")
    return encode_message(response)


def stream_item(response: Any) -> dict:
    """One line of a streaming endpoint's body: ``{"result": response}``."""
    return stream_line(response_to_json(response))


def response_from_json(kind: str, obj: dict) -> Any:
    """The response dataclass for a gateway answer of ``kind`` (a kind or a
    path). For streaming kinds, ``obj`` may be the ``{"result": ...}`` line."""
    kind = resolve_kind(kind)
    return decode_message(RESPONSE_TYPE[kind], stream_result(kind, obj))
