"""Settings + URLconf for bench/bench_api.py: the real site plus one plain Django view that returns
cached bytes (the floor every API endpoint is compared with). BENCH_CACHE=dummy turns the cache off
(the "cold / uncached" scenario). Not used outside the benchmark.

The URL patterns are built on first access (module __getattr__): this module is also the settings
module, and f1site.urls cannot be imported before the app registry is ready."""

import os

from django.http import HttpResponse
from django.urls import include, path

from f1site.settings import *  # noqa: F403

ROOT_URLCONF = "bench.api_site"
if os.environ.get("BENCH_CACHE") == "dummy":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}

_BODY = b'{"plain":"cached bytes","padding":"' + b"x" * 512 + b'"}'


def cached_bytes(request):
    from django.core.cache import cache

    body = cache.get("bench:plain")
    if body is None:
        body = _BODY
        cache.set("bench:plain", body, 3600)
    return HttpResponse(body, content_type="application/json")


def __getattr__(name: str):
    if name != "urlpatterns":
        raise AttributeError(name)
    patterns = [path("bench/plain", cached_bytes), path("", include("f1site.urls"))]
    globals()["urlpatterns"] = patterns
    return patterns
