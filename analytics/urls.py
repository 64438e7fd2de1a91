from django.urls import path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("", views.home, name="home"),
    path("races/", views.race_calendar, name="calendar"),
    path("races/<str:race_id>/", views.race_detail, name="race"),
    path("races/<str:race_id>/live/", views.race_live, name="race_live"),
    path("races/<str:race_id>/why/<slug:driver_ref>/", views.prediction_why, name="why"),
    path("races/<str:race_id>/what-if/", views.what_if, name="what_if"),
    path("drivers/<slug:ref>/", views.driver_detail, name="driver"),
    path("teams/<slug:ref>/", views.team_detail, name="team"),
    path("standings/", views.standings, name="standings"),
    path("model/", views.model_performance, name="model"),
    path("championship/", views.championship, name="championship"),
    path("staff/freshness/", views.data_freshness, name="freshness"),
]
