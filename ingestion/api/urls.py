"""/api/v1 routes for the F1 data, jobs and health (mounted by f1site/api_urls.py)."""

from django.urls import path

from f1site import converters  # noqa: F401  (registers <race_id:...>)
from ingestion.api import views

urlpatterns = [
    path("races", views.RaceListView.as_view(), name="api-races"),
    path("races/<race_id:race_id>", views.RaceDetailView.as_view(), name="api-race-detail"),
    path("drivers", views.DriverListView.as_view(), name="api-drivers"),
    path("drivers/<str:driver_id>", views.DriverDetailView.as_view(), name="api-driver-detail"),
    path("teams", views.TeamListView.as_view(), name="api-teams"),
    path("teams/<str:team_id>", views.TeamDetailView.as_view(), name="api-team-detail"),
    path("standings", views.StandingsView.as_view(), name="api-standings"),
    path("jobs/status", views.JobsStatusView.as_view(), name="api-jobs-status"),
    path("health", views.HealthView.as_view(), name="api-health"),
]
