"""/api/v1/analytics routes (mounted by f1site/api_urls.py)."""

from django.urls import path

from analytics.api import views

urlpatterns = [
    path(
        "analytics/driver/<str:driver_id>", views.DriverAnalyticsView.as_view(), name="api-analytics-driver"
    ),
    path("analytics/team/<str:team_id>", views.TeamAnalyticsView.as_view(), name="api-analytics-team"),
]
