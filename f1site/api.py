"""API plumbing shared by every app's /api/v1 views.

- One error shape for the whole API: {"error": {"code", "message", "details"}}, also for an
  unknown /api/v1/ path (`UnknownEndpointView`) and Django's own 400 / 403 / 404 / 500 under /api/
  (`bad_request` / `permission_denied` / `page_not_found` / `server_error`, wired as
  handler400 / handler403 / handler404 / handler500 in f1site/urls.py), and django-axes' login
  lockout on the token endpoint (`lockout_response`).
- Throttling lives in f1site/throttling.py (imported by DRF's settings, so it must not import views).
- `CachedJSONView`: views answer from a rendered, cached body with ETag / Last-Modified and 304s.
- Query-parameter serializers that turn bad input (NUL bytes, 2^63) into 400s before the ORM sees it.
- The `?as_of=` clock, one reading for every endpoint that takes it, whichever app serves it
  (`as_of_param`, `clock_param`); one that does not declare it refuses it (`DeclaredParamsOnlyMixin`).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from email.utils import formatdate, parsedate_to_datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.views import defaults
from drf_spectacular.plumbing import get_class
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings as drf_settings
from rest_framework.views import APIView, set_rollback
from rest_framework.views import exception_handler as drf_exception_handler

from f1site.cache import CachedBody, ListKey, cached_json
from f1site.clock import ClockInFuture, ClockParamMalformed, clock_param_read

logger = logging.getLogger(__name__)


# --- errors ---------------------------------------------------------------------------------------
def error_response(*, code: str, message: str, status_code: int, details=None, headers=None) -> Response:
    return Response(
        {"error": {"code": code, "message": message, "details": details or {}}},
        status=status_code,
        headers=headers,
    )


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class MalformedRequest(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Malformed request."
    default_code = "bad_request"


def _domain_error(exc) -> Response | None:
    """The domain's errors (f1site.errors) and the prediction engine's refusals, mapped once for
    every view: the views just call the selector / service. Imported here, not at module level: the
    engine imports this module's helpers."""
    from f1site.errors import NotFound
    from predictions.services import ModelUnavailable
    from predictions.services.predicting import PredictionInputError
    from predictions.services.regeneration import QueueUnavailable
    from predictions.services.training import NoModelAtClock
    from predictions.services.what_if import WhatIfBusy

    if isinstance(exc, ModelUnavailable):
        # Its reasons name the artifacts' paths on the server: logged for the operator, never
        # answered (the championship and what-if 503s go to anonymous clients).
        logger.warning("answering 503 model_unavailable: %s", exc)
        message = exc.public_message
        return error_response(
            code="model_unavailable", message=message[:1].upper() + message[1:], status_code=503
        )
    if isinstance(exc, NoModelAtClock):
        # A fact of a past clock (`?as_of=`: no version registered by then), never retried into an
        # answer: a 409 like cannot_predict, not model_unavailable's 503 (a passing state now).
        message = str(exc)
        return error_response(
            code="no_model_at_clock", message=message[:1].upper() + message[1:], status_code=409
        )
    if isinstance(exc, WhatIfBusy):  # every what-if build slot taken: come back shortly
        return error_response(
            code="what_if_busy",
            message=str(exc),
            status_code=503,
            details={"retry_after": exc.retry_after},
            headers={"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, PredictionInputError):  # details: e.g. a what-if grid's offending drivers
        return error_response(code="cannot_predict", message=str(exc), status_code=409, details=exc.details)
    if isinstance(exc, QueueUnavailable):
        return error_response(
            code="queue_unavailable", message=f"Could not queue the job: {exc}", status_code=503
        )
    if isinstance(exc, NotFound):  # the same body as an Http404 below (SeasonWithoutRaces is one)
        return error_response(code="not_found", message=str(exc), status_code=404)
    return None


def exception_handler(exc, context):
    from ingestion.selectors import MalformedRaceId

    domain = _domain_error(exc)
    if domain is not None:
        set_rollback()
        return domain
    if isinstance(exc, MalformedRaceId):
        exc = MalformedRequest(str(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.messages)
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(
            f"Request body larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.", "payload_too_large"
        )
    elif isinstance(exc, SuspiciousOperation | UnicodeDecodeError) or (
        isinstance(exc, ValueError) and "NUL" in str(exc)
    ):
        # Input that cannot even reach the database (NUL bytes rejected by the driver, undecodable
        # bodies, suspicious headers) is the client's fault: 400, never 500. Other ValueErrors are
        # bugs and stay 500s.
        exc = MalformedRequest(str(exc)[:200] or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unexpected error: let Django log it and answer 500
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        code, message, details = "invalid", "Invalid input.", data
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        code = codes if isinstance(codes, str) else "error"
        if isinstance(codes, dict):
            # A dict detail (simplejwt's InvalidToken: {"detail", "code": "token_not_valid",
            # "messages"}) carries its real code inside: surface it rather than a bare "error".
            inner = codes.get("code", codes.get("detail"))
            code = inner if isinstance(inner, str) and inner else code
        message = str(data.get("detail", exc)) if isinstance(data, dict) else str(exc)
        details = {k: v for k, v in data.items() if k != "detail"} if isinstance(data, dict) else {}
    if response.status_code == status.HTTP_429_TOO_MANY_REQUESTS:
        details = {**details, "retry_after": getattr(exc, "wait", None)}
    response.data = {"error": {"code": code, "message": message, "details": details}}
    return response


def _error_json(*, code: str, message: str, status_code: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status_code)


def _is_api(request) -> bool:
    return request.path_info.startswith("/api/")


def _slash_hint(path: str) -> str:
    """' Did you mean /api/v1/races?' when the path with / without a trailing slash is an endpoint."""
    other = path[:-1] if path.endswith("/") else path + "/"
    try:
        match = resolve(other)
    except Resolver404:
        return ""
    return "" if match.url_name == "api-unknown" else f" Did you mean {other}?"


class UnknownEndpointView(APIView):
    # The last /api/v1/ route (f1site/urls.py): any other path there, any method, answers 404 in
    # the API's error shape, with DEBUG on too (Django's debug 404 page skips handler404).
    permission_classes = [AllowAny]
    schema = None  # not an operation

    def perform_content_negotiation(self, request, force=False):
        # A path that is no endpoint has no formats to refuse: whatever `?format=` or Accept asks
        # for (`?format=xml` answered 406, a repeated `format` 400), the answer is the 404 below,
        # in JSON. Known endpoints keep their 406 / 400 (f1site/negotiation.py).
        return super().perform_content_negotiation(request, force=True)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # throttles still count
        path = request.path_info
        raise exceptions.NotFound(f"No API endpoint at {path[:200]}.{_slash_hint(path)}")


def bad_request(request, exception=None):
    """handler400: JSON in the API's error shape under /api/, Django's HTML page elsewhere.

    Django answers 400 itself, before any view runs, for a SuspiciousOperation raised outside DRF:
    above all a Host header not in ALLOWED_HOSTS (DisallowedHost, raised by CommonMiddleware). With
    DEBUG on Django shows its technical page instead and never calls this handler.
    """
    if _is_api(request):
        # No exception text: DisallowedHost's names the settings to change, which is for the log
        # (django.security logs it), not for the client.
        return _error_json(code="bad_request", message="Bad request.", status_code=400)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    """handler403: JSON in the API's error shape under /api/, Django's HTML page elsewhere.

    DRF views answer their own 403s (including CSRF failures of session-authenticated writes); this
    covers a PermissionDenied raised under /api/ outside DRF's handling (a middleware, a plain view).
    """
    if _is_api(request):
        return _error_json(code="permission_denied", message="Permission denied.", status_code=403)
    return defaults.permission_denied(request, exception)


def lockout_response() -> JsonResponse:
    """429 in the API's error shape for a login django-axes has locked out (see TokenObtainView)."""
    from axes.helpers import get_cool_off

    cool_off = get_cool_off()
    retry_after = int(cool_off.total_seconds()) if cool_off else None
    response = JsonResponse(
        {
            "error": {
                "code": "locked_out",
                "message": "Too many failed logins for this account from this address; try again later.",
                "details": {"retry_after": retry_after},
            }
        },
        status=status.HTTP_429_TOO_MANY_REQUESTS,
    )
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def page_not_found(request, exception=None):
    """handler404: JSON in the API's error shape under /api/, Django's HTML page elsewhere."""
    if _is_api(request):
        return _error_json(code="not_found", message="Not found.", status_code=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """handler500: JSON in the API's error shape under /api/ (no detail leaks), HTML elsewhere."""
    if _is_api(request):
        return _error_json(code="server_error", message="Internal server error.", status_code=500)
    return defaults.server_error(request)


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable code, e.g. not_found, invalid, throttled")
    message = serializers.CharField()
    details = serializers.JSONField(help_text="Field errors or extra context; {} when none")


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """OpenAPI entries for the error statuses an operation can return (all share ErrorSerializer)."""
    text = {
        400: "Malformed id or invalid parameter",
        401: "Authentication required",
        403: "Staff only",
        404: "Unknown id",
        409: "Conflict",
        413: "Request body too large",
        429: "Throttled; see the Retry-After header",
        503: "A required dependency is down",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=text.get(code, "Error")) for code in codes}


INVALID_CREDENTIALS_DESCRIPTION = (
    "Invalid credentials: the request carried an expired, malformed or revoked JWT (`token_not_valid`, "
    "`authentication_failed`). Refused even where none is needed: send no Authorization header for "
    "a public read"
)


def openapi_token_errors(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]): every
    operation that accepts a JWT lists 401. Authentication runs before permissions, so a request
    carrying an expired or invalid token is refused (401 `token_not_valid`) even on a public read,
    which used to list no 401. In one place rather than in each view's error_responses (one shared
    response, `#/components/responses/TokenNotValid`); an operation that already lists 401 (staff
    writes and reads) keeps its own entry. An operation whose view takes an unusable token as none
    (`f1site.authentication.JWTOrAnonymousAuthentication`: /health) never answers it, so lists none."""
    result.setdefault("components", {}).setdefault("responses", {})["TokenNotValid"] = {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        "description": INVALID_CREDENTIALS_DESCRIPTION,
    }
    lenient = _operations_taking_unusable_tokens_as_none(generator)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.get("responses")
            jwt = any("jwtAuth" in requirement for requirement in operation.get("security", []))
            if not jwt or responses is None or "401" in responses or (path, method) in lenient:
                continue
            ordered = {code: body for code, body in responses.items() if code < "401"}
            ordered["401"] = {"$ref": "#/components/responses/TokenNotValid"}
            ordered.update((code, body) for code, body in responses.items() if code > "401")
            operation["responses"] = ordered
    return result


def _operations_taking_unusable_tokens_as_none(generator) -> set[tuple[str, str]]:
    """(path, method) of the operations whose view authenticates with a class that turns an unusable
    token into an anonymous caller (its `unusable_token_is_anonymous`), from the generator's endpoints."""
    found = set()
    for path, _regex, method, callback in getattr(generator, "endpoints", None) or ():
        view = getattr(callback, "cls", None)
        classes = getattr(view, "authentication_classes", ())
        if any(getattr(auth, "unusable_token_is_anonymous", False) for auth in classes):
            found.add((path, method.lower()))
    return found


def openapi_pattern(regex: re.Pattern) -> str:
    """A Python id pattern as OpenAPI (ECMA) states it: `\\A` / `\\Z` anchors become `^` / `$`.

    Ids are matched whole in Python (`\\Z`, fullmatch): `$` there also accepts a trailing newline.
    """
    return regex.pattern.replace(r"\A", "^").replace(r"\Z", "$")


# --- query parameters -----------------------------------------------------------------------------
# How str(int) writes an integer: ASCII digits, no leading zero, `-` only before a non-zero value.
_CANONICAL_INT = re.compile(r"0|-?[1-9][0-9]*")


class QueryIntegerField(serializers.IntegerField):
    """An integer query parameter (season, round, limit, offset), in its one canonical spelling.

    DRF's IntegerField strips a trailing ".0" and takes `offset=0.0` or `season=2024.0` as integers,
    while the schema says integer (schemathesis' negative phase flagged `/drivers?offset=0.0`
    answering 200); and int() also reads `02026`, ` 2026`, `+2026`, `2_026` and non-ASCII digits as
    2026, each an alias of `season=2026` while the championship's `{season}` path and the pages'
    `?season=` refuse them (QA). Anything but the plain spelling is a 400 `invalid`; one that int()
    would read says which spelling to use."""

    default_error_messages = {
        "not_canonical": "Write it as a plain integer: {canonical} (no leading zero, plus sign, space or underscore)."
    }

    def to_internal_value(self, data):
        if isinstance(data, str) and not _CANONICAL_INT.fullmatch(data):
            try:
                canonical = int(data)  # what a lenient reader would have taken it for
            except ValueError:
                self.fail("invalid")
            if len(str(canonical)) > 20:  # not echoed back; out of any declared range anyway
                self.fail("invalid")
            self.fail("not_canonical", canonical=canonical)
        return super().to_internal_value(data)


class PageParamsSerializer(serializers.Serializer):
    """limit/offset; a limit above API_MAX_PAGE_SIZE is capped (not rejected); offsets are bounded."""

    limit = QueryIntegerField(
        required=False, min_value=1, help_text="Page size; values above the maximum page size are capped"
    )
    offset = QueryIntegerField(
        required=False, min_value=0, max_value=1_000_000, default=0, help_text="Items to skip"
    )

    def validate_limit(self, value: int) -> int:
        return min(value, settings.API_MAX_PAGE_SIZE)

    def validated_page(self) -> tuple[int, int]:
        data = self.validated_data
        return data.get("limit") or settings.API_PAGE_SIZE, data["offset"]


SEASON_FIELD_KW = {"min_value": 1950, "max_value": 2100}


# Valid query strings seen recently, per serializer class. Validation is a pure function of the
# query string (no request- or time-dependent defaults), and building a DRF serializer (field
# deep copies) cost more per warm request than the cache read itself. Errors are never memoized.
_VALID_QUERIES: dict[tuple[type, str, int], serializers.Serializer] = {}
_VALID_QUERIES_MAX = 512


def validate_query(serializer_class, request) -> serializers.Serializer:
    """Validate query parameters; raises ValidationError (400) with field details.

    An empty value (`?season=`) is rejected rather than read as "absent": DRF would otherwise
    silently fall back to the default for form-style input; so is a repeated parameter. Returns a validated serializer, shared
    by later requests with the same query string: callers only read it.
    """
    # The page-size cap is applied during validation, so it is part of the key (tests change it).
    memo_key = (serializer_class, request.META.get("QUERY_STRING", ""), settings.API_MAX_PAGE_SIZE)
    serializer = _VALID_QUERIES.get(memo_key)
    if serializer is not None:
        return serializer
    serializer = _validate_query(serializer_class, request)
    if len(_VALID_QUERIES) >= _VALID_QUERIES_MAX:
        _VALID_QUERIES.clear()  # bounded: clients can send endless distinct query strings
    _VALID_QUERIES[memo_key] = serializer
    return serializer


def _validate_query(serializer_class, request) -> serializers.Serializer:
    params = request.query_params
    serializer = serializer_class(data=params)
    # A repeated parameter (`?limit=[1]&limit=20`) is an array where the schema says a scalar:
    # reject it instead of silently using the last value (schemathesis' negative phase checks it).
    invalid = {
        name: ["Give this parameter once."] for name in serializer.fields if len(params.getlist(name)) > 1
    }
    invalid.update(
        (name, ["A value is required when the parameter is given."])
        for name in serializer.fields
        if name not in invalid and name in params and params.get(name) == ""
    )
    if invalid:
        raise exceptions.ValidationError(invalid)
    serializer.is_valid(raise_exception=True)
    return serializer


def page_serializer(item_serializer, name: str):
    """A paginated-list OpenAPI component wrapping `item_serializer`."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "limit": serializers.IntegerField(),
            "offset": serializers.IntegerField(),
            "results": item_serializer(many=True),
        },
    )


# --- cached responses -----------------------------------------------------------------------------
def _not_modified(request, entry: CachedBody) -> bool:
    inm = request.META.get("HTTP_IF_NONE_MATCH")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return entry.etag in tags or "*" in tags
    ims = request.META.get("HTTP_IF_MODIFIED_SINCE")
    if ims:
        try:
            return int(entry.last_modified) <= parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
    return False


def body_response(request, entry: CachedBody, *, status_code: int = 200) -> HttpResponse:
    if status_code == 200 and _not_modified(request, entry):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(entry.body, content_type="application/json", status=status_code)
    response["ETag"] = entry.etag
    response["Last-Modified"] = formatdate(entry.last_modified, usegmt=True)
    response["Cache-Control"] = "public, no-cache"  # clients revalidate with ETag -> cheap 304s
    return response


_COMMON_ACCEPTS = frozenset({"*/*", "application/json"})


# Query parameters a request may carry only to an operation that declares them in its schema
# (`extend_schema(parameters=...)`). Most unknown parameters are harmless noise (a cache buster),
# but `as_of` asks for the answer as of a past clock: an endpoint that does not read it would
# silently answer for now, which a demo at a past clock cannot tell from the answer it asked for.
AS_OF = "as_of"
DECLARED_ONLY_PARAMS = (AS_OF,)


class UnsupportedParameter(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "unsupported_parameter"

    def __init__(self, name: str) -> None:
        # A dict detail carrying its own `detail`: the handler answers code unsupported_parameter,
        # this message, and details {name: [...]} (as `invalid` names the field it refuses).
        message = f"This endpoint does not take `{name}`; see the API schema for the endpoints that do."
        super().__init__({"detail": message, name: ["Not a parameter of this endpoint."]})


# (view class, HTTP method) -> the query parameter names its operation declares. Only methods the
# class has a handler for are looked up (DeclaredParamsOnlyMixin returns before the lookup for any
# other), so the table is bounded by the code, never by what clients send.
_DECLARED_QUERY_PARAMS: dict[tuple[type, str], frozenset[str]] = {}


def _operation_schema_class(view, handler) -> type:
    """The schema class drf-spectacular generates `handler`'s operation with (SchemaGenerator
    .create_view): the handler's own `extend_schema` when it has one, over the view class's schema
    (a class-level `extend_schema`, else DEFAULT_SCHEMA_CLASS) — with the class's bases spliced in,
    as the generator does, when the handler's was built on the default one; else the class's."""
    view_schema_class = get_class(type(view).schema)
    action_schema = getattr(handler, "kwargs", {}).get("schema")
    if action_schema is None:
        return view_schema_class
    action_schema_class = get_class(action_schema)
    if issubclass(action_schema_class, view_schema_class):
        return action_schema_class
    default_mro = drf_settings.DEFAULT_SCHEMA_CLASS.__mro__
    mro = tuple(c for c in action_schema_class.__mro__ if c not in default_mro) + view_schema_class.__mro__
    return type("ExtendedRearrangedSchema", mro, {})


def declared_query_params(view, method: str) -> frozenset[str]:
    """The names of the query parameters the schema declares for `view`'s handler of `method` (one
    it has: DeclaredParamsOnlyMixin checks first): its `extend_schema(parameters=...)`, the
    handler's and the view class's (OpenApiParameters in the query, and the fields of serializers
    given as parameters), read through the schema class drf-spectacular generates the operation
    with (`_operation_schema_class`). Memoized per view class and method."""
    key = (type(view), method)
    names = _DECLARED_QUERY_PARAMS.get(key)
    if names is not None:
        return names
    schema = _operation_schema_class(view, getattr(view, method.lower()))()
    schema.view, schema.method = view, method.upper()
    found: set[str] = set()
    for parameter in schema.get_override_parameters():
        if isinstance(parameter, OpenApiParameter):
            if parameter.location == OpenApiParameter.QUERY:
                found.add(parameter.name)
        else:  # a serializer (class or instance) whose fields are query parameters
            serializer = parameter() if isinstance(parameter, type) else parameter
            found.update(serializer.fields)
    names = _DECLARED_QUERY_PARAMS[key] = frozenset(found)
    return names


class DeclaredParamsOnlyMixin:
    # Refuses a DECLARED_ONLY_PARAMS parameter (`?as_of=`) sent to an operation whose schema does
    # not declare it: 400 `unsupported_parameter` naming it, after authentication, permissions
    # and throttles (where every other parameter is checked), so an endpoint added without the
    # clock refuses it rather than answering for now. OPTIONS (a CORS preflight carries the query
    # string of the request it asks about) is no operation of the schema and never refused. A
    # method the view has no handler for is no operation either: dispatch answers its 405 (the
    # token views, without MethodFirstMixin, got here and answered a GET with a clock 400).
    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        method = request.method.lower()
        if method == "options" or method not in self.http_method_names or not hasattr(self, method):
            return
        params = request.query_params
        for name in DECLARED_ONLY_PARAMS:
            if name in params and name not in declared_query_params(self, request.method):
                raise UnsupportedParameter(name)


class MethodFirstMixin:
    # A method the view has no handler for answers 405 to everyone. DRF checks permissions before
    # it looks for the handler, so an anonymous DELETE on a read-only endpoint got 401 ("log in")
    # for a method no one may use.
    def check_permissions(self, request):
        if request.method.upper() not in self.allowed_methods:
            raise exceptions.MethodNotAllowed(request.method)
        super().check_permissions(request)


class CachedJSONView(DeclaredParamsOnlyMixin, MethodFirstMixin, APIView):
    # Base for read endpoints: `cached(request, key=..., ttl=..., tier=..., compute=...)` answers
    # from the cache with validators; the payload is computed from the database only on a miss.
    # The rate-limit count of a GET is deferred to that cache read (one Redis round trip for both,
    # f1site.throttling.DeferredCount); a GET answered without it (a 400 before the read, a view
    # that does not cache) is counted in finalize_response, and a request over its limit gets
    # the 429 it would have got up front. Views whose GET does database work without `cached`
    # set defer_throttle = False so throttled clients are refused before that work.
    # (A comment, not a docstring: drf-spectacular would copy a docstring into every operation.)
    defer_throttle = True
    deferred_count = None

    def perform_content_negotiation(self, request, force=False):
        # The common case (no Accept header, */* or application/json; no ?format= override; the
        # JSON renderer only) has a known answer, the one DRF's negotiation gives (tested equal),
        # without parsing the Accept header and the query string on every warm request.
        meta = request.META
        if (
            self.format_kwarg is None
            and meta.get("HTTP_ACCEPT", "*/*") in _COMMON_ACCEPTS
            and "format=" not in meta.get("QUERY_STRING", "")
        ):
            renderers = self.get_renderers()
            if len(renderers) == 1 and type(renderers[0]) is JSONRenderer:
                return renderers[0], renderers[0].media_type
        return super().perform_content_negotiation(request, force)

    def cached(self, request, *, key: str | ListKey, ttl: int, tier: str, compute) -> HttpResponse:
        entry = cached_json(key=key, ttl=ttl, tier=tier, compute=compute, counter=self.deferred_count)
        return body_response(request, entry)

    def finalize_response(self, request, response, *args, **kwargs):
        pending = self.deferred_count
        if pending is not None and not pending.settled:
            try:
                pending.count_now()
            except exceptions.Throttled as exc:
                response = self.handle_exception(exc)
        return super().finalize_response(request, response, *args, **kwargs)


# The API's `?as_of=` clock, one reading for every endpoint that takes it, whichever app serves it
# (ingestion: races, races/{race_id}, drivers, teams, drivers|teams/{id}, standings; analytics:
# analytics/driver|team/{id}; predictions: predictions/upcoming, predictions/overview,
# predictions/race|accuracy/{race_id}, championship/{season}, models/performance, the what-if's POST):
# the same parser as the pages (`f1site.clock.clock_param_read`), the same errors through the one
# exception handler, the same OpenAPI declaration and the same cache-key part (`f1site.clock.clock_key_part`).
# An endpoint that does not declare `as_of` refuses it (400 `unsupported_parameter`:
# `DeclaredParamsOnlyMixin`). A model-based answer at a clock before any model version (409
# `no_model_at_clock`) is the engine's NoModelAtClock, mapped by `exception_handler`.
class ClockParams(serializers.Serializer):
    # Only checks that `as_of` is one non-empty value without NUL bytes (`validate_query`);
    # the text is read by the pages' own parser (`clock_param`).
    as_of = serializers.CharField(required=False, trim_whitespace=False, max_length=64)


def as_of_param(*, shows: str) -> OpenApiParameter:
    """The `as_of` query parameter as every endpoint declares it; `shows`: what the endpoint answers
    at the clock. Declaring it is also what lets a request carry it (`DeclaredParamsOnlyMixin`)."""
    return OpenApiParameter(
        AS_OF,
        # not `format: date` alone: date-times are read too, and a client generated from it could not send one
        {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]},
        OpenApiParameter.QUERY,
        required=False,
        description=(
            "The clock (default now), read by the pages' `?as_of=` parser: a date, YYYY-MM-DD, "
            "is 00:00 UTC that day; an ISO date-time (2026-06-20T14:00, UTC unless it names a zone) is "
            "also read. Malformed, empty or repeated -> 400 `invalid` with `details.as_of`; a "
            "well-formed clock still to come (beyond a 5-minute skew) -> 404 `not_found`. " + shows
        ),
    )


def clock_param(request) -> datetime | None:
    """`?as_of=` -> the clock in UTC (None = now), parsed by the pages' own reader
    (`f1site.clock.clock_param_read`), so `/?as_of=X` and the API's `?as_of=X` are the same moment.
    Empty, repeated or NUL-carrying values are refused first, as for every API query parameter;
    a malformed one (the page's 404) is the API's 400 `invalid` with `details.as_of`, and so is
    a moment with no UTC equivalent (`0001-01-01T00:00+01:00`). A well-formed clock still to come
    is a 404, as on the page: the value is valid, the view as of then does not exist yet."""
    validate_query(ClockParams, request)
    try:
        return clock_param_read(values=request.GET.getlist(AS_OF))  # in UTC, None = now
    except ClockInFuture as exc:
        raise exceptions.NotFound(str(exc)) from None
    except ClockParamMalformed as exc:
        raise exceptions.ValidationError({AS_OF: [str(exc)]}) from None
