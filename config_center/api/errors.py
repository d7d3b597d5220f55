"""Every refusal as ``{"code", "message", "details"}`` with its HTTP status:
the service's own errors as they are, DRF's (authentication, parsing,
methods) reworded into the same shape, and a store that cannot take
requests right now as 503 ``unavailable`` (retryable)."""
from __future__ import annotations

from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from consensus.mvcc.api import StoreError
from config_center.service.errors import ServiceError, UnavailableError
from config_center.unavailable import STORE_FULL_ERRORS, STORE_FULL_MESSAGE, UNAVAILABLE_ERRORS

# gRPC codes a store refusal can carry that mean "try again later".
_RETRYABLE_GRPC = {4, 14}


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        retry_after = exc.details.get("retry_after") if isinstance(exc.details, dict) else None
        return Response(exc.as_dict(), status=exc.status,
                        headers={"Retry-After": str(retry_after)} if retry_after is not None else None)
    if isinstance(exc, UNAVAILABLE_ERRORS) or (isinstance(exc, StoreError) and exc.grpc_code in _RETRYABLE_GRPC):
        error = UnavailableError(f"the store cannot serve this request now ({exc or type(exc).__name__}); retry")
        return Response(error.as_dict(), status=error.status, headers={"Retry-After": "1"})
    if isinstance(exc, STORE_FULL_ERRORS):
        return Response({"code": "store_full", "message": STORE_FULL_MESSAGE, "details": {"store": str(exc)}},
                        status=507)
    if isinstance(exc, StoreError):
        return Response({"code": "store_refused", "message": str(exc)}, status=400)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException):
        detail = exc.detail
        codes = exc.get_codes()
        if isinstance(detail, (list, dict)):
            body = {"code": exc.default_code, "message": "invalid request", "details": detail}
        else:
            body = {"code": codes if isinstance(codes, str) else exc.default_code, "message": str(detail)}
        response.data = body
    return response
