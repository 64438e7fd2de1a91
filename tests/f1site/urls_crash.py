"""A URLconf with a view that fails, for counting real 5xx responses (test_alerts)."""

from django.urls import path


def crash(request):
    raise RuntimeError("deliberate failure for the 5xx-rate alert test")


urlpatterns = [path("crash", crash, name="ops-test-crash")]
