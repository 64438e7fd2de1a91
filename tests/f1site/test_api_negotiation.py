"""CachedJSONView's content-negotiation shortcut gives exactly DRF's answer where it applies."""

from __future__ import annotations

import pytest
from django.http import Http404
from django.test import RequestFactory
from rest_framework import exceptions
from rest_framework.views import APIView

from f1site.api import CachedJSONView


class _View(CachedJSONView):
    def get(self, request):  # pragma: no cover - never dispatched here
        raise AssertionError


def _negotiate(accept: str | None, query: str = ""):
    factory = RequestFactory()
    extra = {} if accept is None else {"HTTP_ACCEPT": accept}
    view = _View()
    request = view.initialize_request(factory.get(f"/x{query}", **extra))
    view.format_kwarg = None
    ours = _outcome(lambda: CachedJSONView.perform_content_negotiation(view, request))
    drfs = _outcome(lambda: APIView.perform_content_negotiation(view, request))
    return ours, drfs


def _outcome(fn):
    try:
        renderer, media_type = fn()
    except (exceptions.APIException, Http404) as exc:
        return type(exc).__name__
    return type(renderer).__name__, media_type


@pytest.mark.parametrize(
    "accept,query",
    [
        (None, ""),
        ("*/*", ""),
        ("application/json", "?season=2025"),
        ("text/html", ""),
        ("application/json; indent=4", ""),
        ("*/*", "?format=json"),
        ("*/*", "?format=xml"),
        ("application/xml", "?limit=3"),
    ],
)
def test_shortcut_matches_drf_negotiation(accept, query):
    ours, drfs = _negotiate(accept, query)
    assert ours == drfs
