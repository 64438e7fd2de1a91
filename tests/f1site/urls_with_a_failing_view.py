"""Test-only URLconf: the site's routes plus API views and pages that fail, so a test can see what
a real unexpected error, a suspicious request or a refusal raised outside DRF answers through the
whole stack (the error handlers are the site's)."""

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.urls import path
from rest_framework.views import APIView

from f1site.urls import handler400, handler403, handler404, handler500  # noqa: F401
from f1site.urls import urlpatterns as site_urlpatterns


class FailingView(APIView):
    permission_classes: list = []

    def get(self, request):
        raise RuntimeError("a bug in an API view")


def failing_page(request):
    raise RuntimeError("a bug in a page")


# Plain Django views (not DRF): their exceptions reach Django's handler400 / handler403, as a
# middleware's would.
def suspicious(request):
    raise SuspiciousOperation("a suspicious request, details for the log only")


def forbidden(request):
    raise PermissionDenied("refused, details for the log only")


urlpatterns = [
    path("api/v1/test-failure", FailingView.as_view()),
    path("test-failure/", failing_page),
    path("api/v1/test-suspicious", suspicious),
    path("test-suspicious/", suspicious),
    path("api/v1/test-forbidden", forbidden),
    path("test-forbidden/", forbidden),
    *site_urlpatterns,
]
