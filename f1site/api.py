"""One error shape for the whole API: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def error_response(*, code: str, message: str, status_code: int, details=None, headers=None) -> Response:
    return Response(
        {"error": {"code": code, "message": message, "details": details or {}}},
        status=status_code,
        headers=headers,
    )


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.messages)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unexpected error: let Django log it and answer 500
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        code, message, details = "invalid", "Invalid input.", data
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        code = codes if isinstance(codes, str) else "error"
        message = str(data.get("detail", exc)) if isinstance(data, dict) else str(exc)
        details = {k: v for k, v in data.items() if k != "detail"} if isinstance(data, dict) else {}
    if response.status_code == status.HTTP_429_TOO_MANY_REQUESTS:
        details = {**details, "retry_after": getattr(exc, "wait", None)}
    response.data = {"error": {"code": code, "message": message, "details": details}}
    return response
