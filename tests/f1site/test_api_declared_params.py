"""f1site.api.DeclaredParamsOnlyMixin's lookup (`declared_query_params`): which query parameters an
operation declares, read as drf-spectacular generates the schema. The answers to `?as_of=` over every
operation of the committed schema are tests/f1site/test_api_clock.py's contract; here, what sits
under it: a method without a handler (405, never looked up), a declaration on the view class, and
the lookup run over every view under /api/v1, compared with docs/openapi.yaml — the schema the
generator wrote, not the code under test."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.urls import path as url_path
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from f1site import api as f1api
from f1site.api import DeclaredParamsOnlyMixin, MethodFirstMixin, declared_query_params

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
TOKEN_PATHS = ("/api/v1/auth/token/", "/api/v1/auth/token/refresh/")


@pytest.fixture
def fresh_memo(monkeypatch) -> dict:
    """An empty memo table, so each lookup runs (and what a request adds to it shows)."""
    memo: dict = {}
    monkeypatch.setattr(f1api, "_DECLARED_QUERY_PARAMS", memo)
    return memo


@pytest.mark.django_db
@pytest.mark.parametrize("path", TOKEN_PATHS)
def test_a_method_without_a_handler_is_a_405_with_or_without_a_clock(api, path, fresh_memo):
    """The token views have no MethodFirstMixin: a GET reached the clock check, and a clock turned
    their 405 into a 400 `unsupported_parameter`."""
    assert api.get(path).status_code == 405
    for query in ("as_of=2020-01-01", "as_of=yesterday", "as_of="):
        response = api.get(f"{path}?{query}")
        assert response.status_code == 405, (query, response.content)
        assert response.json()["error"]["code"] == "method_not_allowed"
    assert fresh_memo == {}


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["FOOA", "PROPFIND", "TRACE"])
def test_a_made_up_method_adds_no_memo_entry(api, method, fresh_memo):
    """The memo's key held whatever method a client sent: one entry per made-up method, without
    bound. A method the view has no handler for (or that is not an HTTP method it serves) is
    answered 405 before any lookup."""
    for path in (*TOKEN_PATHS, "/api/v1/races"):
        response = api.generic(method, f"{path}?as_of=1")
        assert response.status_code == 405, (method, path, response.content)
    assert fresh_memo == {}
    # a real handler is looked up, once per view class and method
    assert api.post(f"{TOKEN_PATHS[0]}?as_of=1", {}, format="json").status_code == 400
    assert [(cls.__name__, m) for cls, m in fresh_memo] == [("TokenObtainView", "POST")]


AS_OF = OpenApiParameter("as_of", str, OpenApiParameter.QUERY, description="A clock")
SEASON = OpenApiParameter("season", int, OpenApiParameter.QUERY)


class EchoView(DeclaredParamsOnlyMixin, MethodFirstMixin, APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def get(self, request):
        return Response({"as_of": request.query_params.get("as_of")})


@extend_schema(parameters=[AS_OF])  # on the class: drf-spectacular gives it to every handler
class ClassDeclaredView(EchoView):
    pass


@extend_schema(parameters=[AS_OF])
class ClassAndHandlerDeclaredView(EchoView):
    @extend_schema(parameters=[SEASON])
    def get(self, request):
        return super().get(request)

    def post(self, request):
        return super().get(request)


@extend_schema(parameters=[SEASON])
class UndeclaredView(EchoView):
    pass


CLASS_LEVEL = [
    (ClassDeclaredView, "GET", {"as_of"}),
    (ClassAndHandlerDeclaredView, "GET", {"as_of", "season"}),  # the class's and the handler's
    (ClassAndHandlerDeclaredView, "POST", {"as_of"}),
    (UndeclaredView, "GET", {"season"}),
]


def test_the_class_level_cases_are_what_the_schema_generator_writes():
    """The expectations above, checked against drf-spectacular's own schema for these views."""
    views = list(dict.fromkeys(view for view, _, _ in CLASS_LEVEL))
    patterns = [url_path(f"v{i}", view.as_view()) for i, view in enumerate(views)]
    schema = SchemaGenerator(patterns=patterns).get_schema(request=None, public=True)
    written = {
        (path, method.upper()): {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
    }
    assert written == {(f"/v{views.index(view)}", m): names for view, m, names in CLASS_LEVEL}


@pytest.mark.parametrize(("view_class", "method", "expected"), CLASS_LEVEL)
def test_a_declaration_on_the_view_class_counts(view_class, method, expected, fresh_memo):
    """drf-spectacular reads a class-level `extend_schema` for every handler of the view; the
    lookup read only the handler's own, so `?as_of=` declared on the class was refused."""
    request = APIRequestFactory().generic(method, "/x?as_of=2020-01-01")
    response = view_class.as_view()(request)
    if "as_of" in expected:
        assert response.status_code == 200, response.data
        assert response.data == {"as_of": "2020-01-01"}
    else:
        assert response.status_code == 400, response.data
        assert response.data["error"]["code"] == "unsupported_parameter", response.data
    assert fresh_memo == {(view_class, method): frozenset(expected)}


def _schema_query_params() -> dict[tuple[str, str], set[str]]:
    schema = yaml.safe_load(SNAPSHOT.read_text())
    return {
        (path, method.upper()): {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
    }


def _api_views():
    """(path, view instance, method) for every URL pattern under /api/v1 and each method its view
    handles (HEAD with GET, as Django gives it; not OPTIONS, which is never checked)."""
    factory = APIRequestFactory()
    for path, _regex, _method, callback in EndpointEnumerator().get_api_endpoints():
        if not path.startswith("/api/v1/"):
            continue
        view = callback.view_class(**callback.view_initkwargs)
        view.setup(factory.get(path))  # what dispatch does first: `head` from `get`, the kwargs
        for method in view.http_method_names:
            if method != "options" and hasattr(view, method):
                yield path, view, method.upper()


def test_the_lookup_answers_for_every_api_operation_as_the_schema_declares(fresh_memo):
    """A lookup that raises answers every `?as_of=` request to that operation with a 500: it runs
    here over every view class and handled method under /api/v1, and agrees with the committed
    schema (HEAD as its GET)."""
    declared = _schema_query_params()
    seen = set()
    for path, view, method in _api_views():
        operation = (path, "GET" if method == "HEAD" else method)
        assert operation in declared, f"{method} {path} is not in docs/openapi.yaml"
        assert declared_query_params(view, method) == declared[operation], (method, path)
        seen.add(operation)
    assert seen == set(declared)  # every operation of the schema has its view here
    assert {(p, m) for (p, m), names in declared.items() if "as_of" in names} >= {
        ("/api/v1/drivers", "GET"),
        ("/api/v1/predictions/what-if/{race_id}", "POST"),
    }
