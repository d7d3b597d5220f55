"""etcd's ``Auth`` service over the member's ``AuthService``, the same
calls the gateway's ``/v3/auth/*`` routes make.

``Authenticate`` asks for no token (a client whose token expired must reach
it); every other call is made as the user its ``token`` metadata names,
and ``AuthService`` decides what that user may do (root for changes and
lists; a user may read itself and its roles).
"""
from __future__ import annotations

from typing import Callable

from consensus.auth import api as auth_api
from consensus.auth.service import OPERATIONS
from consensus.etcd_api.calls import EtcdApi
from consensus.etcd_api.errors import StoreNotRunningError
from consensus.grpc.etcdpb.etcdserverpb import rpc_pb2_grpc

from .calls import abort, token_of
from .messages import from_pb, to_pb


def _auth_method(request_type: type, name: str):
    async def method(self, request, context):
        try:
            service = getattr(self.services(), "auth_service", None)
            if service is None:
                raise StoreNotRunningError()
            decoded = from_pb(request_type, request)
            if request_type is auth_api.AuthenticateRequest:
                response = await service.authenticate(decoded)
            else:
                user = await self.api.user(token_of(context))
                response = await OPERATIONS[request_type](service, decoded, actor=user)
        except Exception as exc:
            await abort(context, exc, f"gRPC {name}")
        return to_pb(response)

    method.__name__ = method.__qualname__ = name
    return method


class AuthServicer(rpc_pb2_grpc.AuthServicer):
    def __init__(self, etcd_api: EtcdApi, services: Callable[[], object | None]) -> None:
        self.api = etcd_api
        self.services = services

    AuthEnable = _auth_method(auth_api.AuthEnableRequest, "Auth.AuthEnable")
    AuthDisable = _auth_method(auth_api.AuthDisableRequest, "Auth.AuthDisable")
    Authenticate = _auth_method(auth_api.AuthenticateRequest, "Auth.Authenticate")
    UserAdd = _auth_method(auth_api.AuthUserAddRequest, "Auth.UserAdd")
    UserGet = _auth_method(auth_api.AuthUserGetRequest, "Auth.UserGet")
    UserList = _auth_method(auth_api.AuthUserListRequest, "Auth.UserList")
    UserDelete = _auth_method(auth_api.AuthUserDeleteRequest, "Auth.UserDelete")
    UserChangePassword = _auth_method(auth_api.AuthUserChangePasswordRequest, "Auth.UserChangePassword")
    UserGrantRole = _auth_method(auth_api.AuthUserGrantRoleRequest, "Auth.UserGrantRole")
    UserRevokeRole = _auth_method(auth_api.AuthUserRevokeRoleRequest, "Auth.UserRevokeRole")
    RoleAdd = _auth_method(auth_api.AuthRoleAddRequest, "Auth.RoleAdd")
    RoleGet = _auth_method(auth_api.AuthRoleGetRequest, "Auth.RoleGet")
    RoleList = _auth_method(auth_api.AuthRoleListRequest, "Auth.RoleList")
    RoleDelete = _auth_method(auth_api.AuthRoleDeleteRequest, "Auth.RoleDelete")
    RoleGrantPermission = _auth_method(auth_api.AuthRoleGrantPermissionRequest, "Auth.RoleGrantPermission")
    RoleRevokePermission = _auth_method(auth_api.AuthRoleRevokePermissionRequest, "Auth.RoleRevokePermission")
