"""/api/v1 prediction routes (mounted by f1site/api_urls.py)."""

from django.urls import path

from f1site import converters  # noqa: F401  (registers <race_id:...>)
from predictions.api import views

urlpatterns = [
    path("predictions/overview", views.PredictionOverviewView.as_view(), name="api-predictions-overview"),
    path("predictions/upcoming", views.UpcomingPredictionsView.as_view(), name="api-predictions-upcoming"),
    path(
        "predictions/race/<race_id:race_id>", views.RacePredictionsView.as_view(), name="api-predictions-race"
    ),
    path("predictions/jobs/<str:job_id>", views.RegenerationJobView.as_view(), name="api-predictions-job"),
    path(
        "predictions/accuracy/<race_id:race_id>",
        views.RaceAccuracyView.as_view(),
        name="api-predictions-accuracy",
    ),
    path("predictions/what-if/<race_id:race_id>", views.WhatIfView.as_view(), name="api-predictions-what-if"),
    path("championship/<str:season>", views.ChampionshipView.as_view(), name="api-championship"),
    path("models/performance", views.ModelPerformanceView.as_view(), name="api-models-performance"),
]
