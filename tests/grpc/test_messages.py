"""The protobuf codec: every ``api`` dataclass that is one of etcd's
messages survives the trip to etcd's wire form and back, the oneofs
included, and what the dataclasses cannot hold is refused by name."""
from __future__ import annotations

import dataclasses

import pytest

from consensus.auth import api as auth_api
from consensus.grpc.etcdpb.etcdserverpb import rpc_pb2
from consensus.grpc.messages import PB_CLASS, from_pb, to_pb
from consensus.mvcc import api
from consensus.mvcc.api import InvalidRequestError

KV = api.KeyValue(key=b"k", create_revision=3, mod_revision=9, version=4, value=b"\x00\xff", lease=0x1234)
EXAMPLES = [
    api.RangeRequest(key=b"a", range_end=b"\x00", limit=3, revision=7, sort_order=api.SortOrder.DESCEND,
                     sort_target=api.SortTarget.MOD, serializable=True, keys_only=True, min_mod_revision=2),
    api.RangeResponse(header=api.ResponseHeader(cluster_id=2**64 - 1, member_id=5, revision=9, raft_term=3),
                      kvs=(KV, api.KeyValue(key=b"z")), more=True, count=40),
    api.PutResponse(prev_kv=KV),
    api.PutResponse(),
    api.DeleteRangeResponse(deleted=2, prev_kvs=(KV,)),
    api.TxnRequest(
        compare=(api.Compare(target=api.CompareTarget.VALUE, key=b"k", operand=b"v"),
                 api.Compare(result=api.CompareResult.NOT_EQUAL, target=api.CompareTarget.LEASE, key=b"k",
                             operand=5, range_end=b"l"),
                 api.Compare(target=api.CompareTarget.VERSION, key=b"k", operand=0)),
        success=(api.PutRequest(key=b"k", value=b"x", prev_kv=True), api.DeleteRangeRequest(key=b"d"),
                 api.TxnRequest(success=(api.RangeRequest(key=b"inner"),))),
        failure=(api.RangeRequest(key=b"k"),),
    ),
    api.TxnResponse(succeeded=True, responses=(
        api.PutResponse(prev_kv=KV), api.RangeResponse(kvs=(KV,), count=1), api.DeleteRangeResponse(deleted=1),
        api.TxnResponse(responses=(api.PutResponse(),)))),
    api.WatchCreateRequest(key=b"a", range_end=b"b", start_revision=4, progress_notify=True,
                           filters=(api.WatchFilter.NOPUT, api.WatchFilter.NODELETE), prev_kv=True, watch_id=7),
    api.WatchResponse(watch_id=3, created=True, canceled=True, compact_revision=2, cancel_reason="why",
                      events=(api.Event(type=api.EventType.DELETE, kv=KV, prev_kv=KV),
                              api.Event(type=api.EventType.PUT, kv=KV))),
    api.LeaseTimeToLiveResponse(ID=5, TTL=-1, grantedTTL=60, keys=(b"a", b"b")),
    api.LeaseLeasesResponse(leases=(api.LeaseStatus(ID=1), api.LeaseStatus(ID=2))),
    auth_api.AuthRoleGetResponse(perm=(auth_api.Permission(perm_type=auth_api.PermissionType.READWRITE, key=b"a",
                                                           range_end=b"b"),)),
    auth_api.AuthUserAddRequest(name="u", password="p", options=auth_api.UserAddOptions(no_password=True)),
    auth_api.AuthenticateResponse(token="t.1"),
]


def round_trip(obj):
    message = to_pb(obj)
    return from_pb(type(obj), type(message).FromString(message.SerializeToString()))


@pytest.mark.parametrize("obj", EXAMPLES, ids=lambda obj: type(obj).__name__)
def test_examples_survive_the_wire(obj):
    assert round_trip(obj) == obj


def _all_defaulted(cls) -> bool:
    return all(f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
               for f in dataclasses.fields(cls))


@pytest.mark.parametrize("cls", sorted(filter(_all_defaulted, PB_CLASS), key=lambda c: c.__name__),
                         ids=lambda c: c.__name__)
def test_every_message_at_its_defaults_survives_the_wire(cls):
    obj = cls()
    assert round_trip(obj) == obj
    assert type(to_pb(obj)).__name__ == cls.__name__


def test_messages_with_required_fields_have_examples():
    # KeyValue, Event, LeaseStatus: their examples above are their test
    required = {cls for cls in PB_CLASS if not _all_defaulted(cls)}
    shown = {api.KeyValue, api.Event, api.LeaseStatus}
    assert required <= shown, required - shown


def test_every_etcd_call_has_its_request_and_response():
    names = {cls.__name__ for cls in PB_CLASS}
    for service in rpc_pb2.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            if service.name in ("KV", "Lease", "Auth") or method.name in ("Hash", "HashKV"):
                assert method.input_type.name in names, f"{service.name}.{method.name}"
                assert method.output_type.name in names or method.output_type.name == "StatusResponse"


def test_an_enum_number_with_no_name_is_refused_naming_the_field():
    with pytest.raises(InvalidRequestError, match="sort_order has no value numbered 7"):
        from_pb(api.RangeRequest, rpc_pb2.RangeRequest(key=b"a", sort_order=7))


def test_a_txn_op_naming_no_operation_is_refused():
    with pytest.raises(InvalidRequestError, match="names no operation"):
        from_pb(api.TxnRequest, rpc_pb2.TxnRequest(success=[rpc_pb2.RequestOp()]))


def test_a_compare_reads_the_member_its_target_names():
    # etcd reads the oneof member of the compare's target; another one set is ignored
    message = rpc_pb2.Compare(target=rpc_pb2.Compare.MOD, key=b"k", version=5)
    assert from_pb(api.Compare, message) == api.Compare(target=api.CompareTarget.MOD, key=b"k", operand=0)


def test_the_plan_names_every_dataclass_field():
    for cls in PB_CLASS:
        message_fields = set(PB_CLASS[cls].DESCRIPTOR.fields_by_name)
        for field in dataclasses.fields(cls):
            assert field.name in message_fields or field.name in ("operand", "perm_type"), (cls, field.name)
