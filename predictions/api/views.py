"""Prediction endpoints: current predictions, staff regeneration, upcoming, accuracy, what-if,
championship odds and model performance. Views validate, call the engine, render."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.cache import cache
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response

from f1site import cache as f1cache
from f1site.api import CachedJSONView, error_response, error_responses
from f1site.throttling import ExpensiveThrottle
from ingestion.api.views import RACE_ID_PARAM, race_cache_key
from ingestion.selectors import race_get
from predictions.api import selectors, serializers
from predictions.models import Prediction


def _model_unavailable(exc: Exception) -> Response:
    return error_response(
        code="model_unavailable",
        message=f"No usable prediction model: {exc}",
        status_code=503,
    )


class RacePredictionsView(CachedJSONView):
    def get_permissions(self):
        return [IsAdminUser()] if self.request.method == "POST" else [AllowAny()]

    @extend_schema(
        operation_id="predictions_race_retrieve",
        summary="Current predictions for a race (both stages when present)",
        parameters=[RACE_ID_PARAM],
        responses={200: serializers.RacePredictionsOut, **error_responses(400, 404, 429)},
    )
    def get(self, request, race_id: str):
        race_cache_key(race_id)  # 400 on a malformed id before anything else
        return self.cached(
            request,
            key=f1cache.predictions_key(race_id),
            ttl=settings.CACHE_TTL_PREDICTIONS,
            tier="predictions",
            compute=lambda: selectors.race_predictions(race=race_get(race_id=race_id)),
        )

    @extend_schema(
        operation_id="predictions_race_generate",
        summary="Generate fresh predictions now (staff; at most once per race per window)",
        description=(
            "Runs the prediction engine for the race and returns the new predictions (201). A "
            "duplicate within API_REGENERATE_WINDOW seconds (default 60) does not regenerate: it "
            "returns the job already running (202) or just finished (200)."
        ),
        parameters=[RACE_ID_PARAM],
        request=serializers.RegenerateIn,
        responses={
            201: serializers.RegenerateOut,
            200: serializers.RegenerateOut,
            202: serializers.RegenerateOut,
            **error_responses(400, 401, 403, 404, 409, 413, 429, 503),
        },
    )
    def post(self, request, race_id: str):
        body = serializers.RegenerateIn(data=request.data)
        body.is_valid(raise_exception=True)
        stage = body.validated_data.get("stage")
        race = race_get(race_id=race_id)
        window = settings.API_REGENERATE_WINDOW
        now = timezone.now()
        job_key = f"f1:regenerate:{race.slug}"
        job = {
            "id": uuid.uuid4().hex,
            "race": race.slug,
            "stage": stage,
            "status": "running",
            "started_at": now.isoformat(),
            "finished_at": None,
        }
        claimed = cache.add(job_key, job, timeout=window)
        if claimed is False:
            return _duplicate(race, cache.get(job_key))
        # Cache down (claimed is None): the database still enforces one regeneration per window.
        recent = (
            Prediction.objects.filter(race=race, created_at__gte=now - timezone.timedelta(seconds=window))
            .order_by("-created_at")
            .first()
        )
        if recent is not None:
            return _duplicate(
                race,
                {
                    "id": str(recent.batch),
                    "race": race.slug,
                    "stage": recent.stage,
                    "status": "succeeded",
                    "started_at": recent.created_at.isoformat(),
                    "finished_at": recent.created_at.isoformat(),
                },
            )
        from predictions.services import ModelUnavailable, prediction_generate
        from predictions.services.predicting import PredictionInputError

        try:
            prediction_generate(race=race, stage=stage)
        except ModelUnavailable as exc:
            cache.delete(job_key)
            return _model_unavailable(exc)
        except PredictionInputError as exc:
            cache.delete(job_key)
            return error_response(code="cannot_predict", message=str(exc), status_code=409)
        except Exception:
            cache.set(job_key, {**job, "status": "failed", "finished_at": timezone.now().isoformat()}, window)
            raise
        job = {**job, "status": "succeeded", "finished_at": timezone.now().isoformat()}
        cache.set(job_key, job, timeout=window)
        f1cache.cache_invalidate_predictions(race_ids=[race.slug])  # also on the signal; be explicit
        return Response(
            {"job": job, "duplicate": False, "predictions": selectors.race_predictions(race=race)},
            status=201,
        )


def _duplicate(race, job: dict | None) -> Response:
    if job is None:  # the window expired between the two cache calls
        job = {
            "id": "",
            "race": race.slug,
            "stage": None,
            "status": "succeeded",
            "started_at": timezone.now().isoformat(),
            "finished_at": None,
        }
    running = job.get("status") == "running"
    return Response(
        {
            "job": job,
            "duplicate": True,
            "predictions": None if running else selectors.race_predictions(race=race),
        },
        status=202 if running else 200,
    )


class UpcomingPredictionsView(CachedJSONView):
    @extend_schema(
        operation_id="predictions_upcoming",
        summary="The next three races with their current predictions",
        responses={200: serializers.UpcomingOut, **error_responses(429)},
    )
    def get(self, request):
        return self.cached(
            request,
            key=f1cache.list_key("upcoming"),
            ttl=min(settings.CACHE_TTL_PREDICTIONS, settings.CACHE_TTL_DYNAMIC),
            tier="predictions",
            compute=lambda: selectors.upcoming_predictions(limit=3),
        )


class RaceAccuracyView(CachedJSONView):
    @extend_schema(
        operation_id="predictions_accuracy_retrieve",
        summary="Post-race accuracy of the stored pre-race predictions",
        parameters=[RACE_ID_PARAM],
        responses={200: serializers.AccuracyOut, **error_responses(400, 404, 429)},
    )
    def get(self, request, race_id: str):
        race_cache_key(race_id)

        def compute():
            race = race_get(race_id=race_id)
            payload = selectors.race_accuracy(race=race)
            if payload is None:
                raise Http404(f"Race {race.slug} has no results yet: accuracy is scored after the race")
            if not payload["stages"]:
                raise Http404(f"No stored pre-race predictions of {race.slug} have been scored")
            return payload

        return self.cached(
            request,
            key=f"f1:accuracy:{race_id}",
            ttl=settings.CACHE_TTL_PREDICTIONS,
            tier="accuracy",
            compute=compute,
        )


class WhatIfView(CachedJSONView):
    permission_classes = [AllowAny]  # computes, stores nothing
    throttle_classes = [ExpensiveThrottle]

    @extend_schema(
        operation_id="predictions_what_if",
        summary="Predicted finish for a grid order you choose (not stored)",
        parameters=[RACE_ID_PARAM],
        request=serializers.WhatIfIn,
        responses={200: serializers.WhatIfOut, **error_responses(400, 404, 409, 413, 429, 503)},
    )
    def post(self, request, race_id: str):
        body = serializers.WhatIfIn(data=request.data)
        body.is_valid(raise_exception=True)
        race = race_get(race_id=race_id)
        from predictions.services import ModelUnavailable, prediction_what_if
        from predictions.services.predicting import PredictionInputError

        try:
            rows = prediction_what_if(race=race, grid=body.validated_data["grid"])
        except ModelUnavailable as exc:
            return _model_unavailable(exc)
        except PredictionInputError as exc:
            return error_response(code="cannot_predict", message=str(exc), status_code=409)
        return Response({"race": selectors.race_ref(race=race), "predictions": rows})


class ChampionshipView(CachedJSONView):
    throttle_classes = [ExpensiveThrottle]

    @extend_schema(
        operation_id="championship_retrieve",
        summary="Title probabilities for a season (Monte Carlo over the remaining races)",
        parameters=[
            OpenApiParameter(
                "season",
                {"type": "integer", "minimum": 1950, "maximum": 2100},
                OpenApiParameter.PATH,
                description="Season year",
            )
        ],
        responses={200: serializers.ChampionshipOut, **error_responses(400, 404, 429, 503)},
    )
    def get(self, request, season: str):
        # A str route (not <int:>) so a non-numeric season gets the JSON error shape, not Django's page.
        if not (season.isascii() and season.isdigit() and len(season) == 4 and 1950 <= int(season) <= 2100):
            raise Http404(f"No season {season[:20]!r}")
        season = int(season)
        from predictions.services import ModelUnavailable, championship_simulate

        def compute():
            try:
                return championship_simulate(season=season)
            except ValueError as exc:
                raise Http404(str(exc)) from None

        try:
            return self.cached(
                request,
                key=f1cache.list_key("championship", season),
                ttl=settings.CACHE_TTL_PREDICTIONS,
                tier="championship",
                compute=compute,
            )
        except ModelUnavailable as exc:
            return _model_unavailable(exc)


class ModelPerformanceView(CachedJSONView):
    @extend_schema(
        operation_id="models_performance",
        summary="Active model version, its metrics, backtests against baselines, feature catalogue",
        responses={200: serializers.ModelPerformanceOut, **error_responses(429)},
    )
    def get(self, request):
        return self.cached(
            request,
            key="f1:models:performance",
            ttl=settings.CACHE_TTL_PREDICTIONS,
            tier="models",
            compute=selectors.model_performance,
        )
