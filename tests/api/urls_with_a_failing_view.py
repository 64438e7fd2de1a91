"""Test-only URLconf: the site's routes plus one API view and one page that fail, so a test can
see what a real unexpected error answers through the whole stack (handler500 is the site's)."""

from django.urls import path
from rest_framework.views import APIView

from f1site.urls import handler404, handler500  # noqa: F401
from f1site.urls import urlpatterns as site_urlpatterns


class FailingView(APIView):
    permission_classes: list = []

    def get(self, request):
        raise RuntimeError("a bug in an API view")


def failing_page(request):
    raise RuntimeError("a bug in a page")


urlpatterns = [
    path("api/v1/test-failure", FailingView.as_view()),
    path("test-failure/", failing_page),
    *site_urlpatterns,
]
