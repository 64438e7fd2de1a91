from django.urls import path

from analytics import views
from f1site import converters  # noqa: F401  (registers <race_id:...>)

app_name = "analytics"

urlpatterns = [
    path("", views.home, name="home"),
    path("races/", views.race_calendar, name="calendar"),
    path("races/<race_id:race_id>/", views.race_detail, name="race"),
    path("races/<race_id:race_id>/live/", views.race_live, name="race_live"),
    path("races/<race_id:race_id>/why/<slug:driver_ref>/", views.prediction_why, name="why"),
    path("races/<race_id:race_id>/what-if/", views.what_if, name="what_if"),
    path("drivers/<slug:ref>/", views.driver_detail, name="driver"),
    path("teams/<slug:ref>/", views.team_detail, name="team"),
    path("standings/", views.standings, name="standings"),
    path("model/", views.model_performance, name="model"),
    path("championship/", views.championship, name="championship"),
    path("staff/freshness/", views.data_freshness, name="freshness"),
]
