"""Prediction endpoints: current predictions, staff regeneration, upcoming, the overview, accuracy,
what-if, championship odds and model performance. Views validate, call the engine, render."""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny, BasePermission, IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from f1site import cache as f1cache
from f1site.api import (
    CachedJSONView,
    DeclaredParamsOnlyMixin,
    MethodFirstMixin,
    as_of_param,
    clock_param,
    error_response,
    error_responses,
)
from f1site.clock import clock_key_part
from f1site.throttling import ExpensiveThrottle, expensive_charge
from ingestion.api.views import RACE_ID_PARAM, race_cache_key
from ingestion.selectors import race_get
from predictions.api import selectors, serializers
from predictions.services import championship_cache_key, championship_simulate, prediction_what_if
from predictions.services.regeneration import (
    regeneration_job_get,
    regeneration_job_payload,
    regeneration_start,
)
from predictions.services.training import model_serving_at, model_version_serving

logger = logging.getLogger(__name__)


class MayRegeneratePredictions(BasePermission):
    """Staff with `predictions.change_prediction` (superusers: always) — the permission the admin's
    *regenerate predictions* action asks for, so a read-only staff role cannot start model runs
    through the API either."""

    message = "Regenerating predictions needs the predictions.change_prediction permission."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_staff and user.has_perm("predictions.change_prediction"))


class RacePredictionsView(CachedJSONView):
    def get_permissions(self):
        return [IsAdminUser(), MayRegeneratePredictions()] if self.request.method == "POST" else [AllowAny()]

    @extend_schema(
        operation_id="predictions_race_retrieve",
        summary="Current predictions for a race (both stages when present)",
        description=(
            "With `as_of`: the sets the race page shows at that clock (`/races/{id}/?as_of=`): per "
            "stage the latest set made by then (for a race completed by then, the one scored by then, "
            "else the one scoring would take), the after-qualifying stage only once qualifying's "
            "results were known (qualifying start + 2 h); `race.status` by the clock. A race with no set made by then answers as a race "
            "with none: `stages: []`."
        ),
        parameters=[
            RACE_ID_PARAM,
            as_of_param(shows="The sets made by then, as the race page shows them at that clock."),
        ],
        responses={200: serializers.RacePredictionsOut, **error_responses(400, 404, 429)},
    )
    def get(self, request, race_id: str):
        key = f1cache.predictions_key(race_id)
        race_cache_key(race_id)  # 400 on a malformed id before anything else
        as_of = clock_param(request)  # then the clock's 400 / 404, before any lookup
        if as_of is not None:
            key = f1cache.predictions_clock_key(race_id, clock_key_part(as_of))
        return self.cached(
            request,
            key=key,
            ttl=settings.CACHE_TTL_PREDICTIONS,
            tier="predictions",
            compute=lambda: selectors.race_predictions(race=race_get(race_id=race_id), as_of=as_of),
        )

    @extend_schema(
        operation_id="predictions_race_generate",
        summary=(
            "Generate fresh predictions now (staff with predictions.change_prediction; at most once "
            "per race and stage per window)"
        ),
        description=(
            "Inline (default): runs the prediction engine for the race and returns the new "
            "predictions (201); when the model version and inputs of every stage are those of its "
            "current set, nothing new is stored and the current predictions come back with 200 and "
            "`job.unchanged` listing the stages. "
            'With `{"background": true}`: queues the job and returns it at once '
            "(always 202, `Location` = the job's status URL, `GET predictions/jobs/{job_id}`, no "
            "predictions; where tasks run eagerly, e.g. the embedded set-up without Redis, the job "
            "has already finished and its status says so). A duplicate (same race and stages) "
            "within API_REGENERATE_WINDOW seconds (default 60) starts nothing: it returns the job "
            "already queued or running (202) or just finished (200, with the predictions). A failed "
            "job is never a duplicate."
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
        race = race_get(race_id=race_id)
        background = body.validated_data["background"]
        # A missing model, a race it cannot predict and a broker down are mapped to their answers
        # (503 / 409 / 503) by f1site.api.exception_handler.
        result = regeneration_start(race=race, stage=body.validated_data.get("stage"), background=background)
        # A new background job is 202 even when eager Celery already ran it: the client polls the job.
        accepted = result.pending or (background and not result.duplicate)
        # 201 only when something was created: an unchanged regeneration kept the current sets.
        status_code = 202 if accepted else 200 if result.duplicate or result.stored_nothing else 201
        return Response(
            {
                "job": result.job,
                "duplicate": result.duplicate,
                "predictions": None if accepted else selectors.race_predictions(race=race),
            },
            status=status_code,
            headers={"Location": result.job["url"]} if status_code == 202 and result.job["url"] else None,
        )


class RegenerationJobView(DeclaredParamsOnlyMixin, MethodFirstMixin, APIView):
    # Staff only: job ids, timings and error texts are operational detail, not public data.
    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="predictions_job_retrieve",
        summary="Status of a regeneration job (staff)",
        description=(
            "queued / running / succeeded / failed, with timings, the error of a failed job and, "
            "once it succeeded, the URL of the race's predictions. Kept in the database (JobRun), "
            "so it survives a cache flush. Never cached."
        ),
        parameters=[
            OpenApiParameter(
                "job_id",
                {"type": "string", "pattern": "^[1-9][0-9]{0,9}-[0-9a-f]{32}$"},
                OpenApiParameter.PATH,
                description="The job id a POST predictions/race/{race_id} returned",
            )
        ],
        responses={200: serializers.JobOut, **error_responses(400, 401, 403, 404, 429)},
    )
    def get(self, request, job_id: str):
        try:
            run = regeneration_job_get(job_id=job_id)
        except ValueError as exc:
            return error_response(code="bad_request", message=str(exc), status_code=400)
        if run is None:
            raise Http404(f"No regeneration job {job_id}")
        return Response(regeneration_job_payload(run=run), headers={"Cache-Control": "no-store"})


AS_OF_PARAM = as_of_param(shows="Echoed in UTC as `as_of`.")


def _clock_cache_part(as_of) -> str:
    # The clock in the key; "now" carries today's date, so a stale copy never outlives the day
    # that chose its races (data changes bump the "upcoming" family as for predictions/upcoming).
    return clock_key_part(as_of) if as_of is not None else f"now:{timezone.now().date().isoformat()}"


def _cached_by_clock(view: CachedJSONView, request, *, parts: tuple[str, ...], compute):
    # The "upcoming" family: any data change bumps it; the TTL is the shorter of the predictions'
    # and the dynamic data's, since the next-three list moves with the calendar as well.
    return view.cached(
        request,
        key=f1cache.list_key("upcoming", *parts),
        ttl=min(settings.CACHE_TTL_PREDICTIONS, settings.CACHE_TTL_DYNAMIC),
        tier="predictions",
        compute=compute,
    )


class UpcomingPredictionsView(CachedJSONView):
    @extend_schema(
        operation_id="predictions_upcoming",
        summary="The next three races with their current predictions",
        description=(
            "Without `as_of`: the next three races as of now, each stage's current set. With "
            "`as_of`: the next three as of that clock with the sets the home page shows for it "
            "(made by then; after-qualifying only once qualifying's results were known), the `upcoming` list "
            "of `predictions/overview` for the same clock."
        ),
        parameters=[AS_OF_PARAM],
        responses={200: serializers.UpcomingOut, **error_responses(400, 404, 429)},
    )
    def get(self, request):
        as_of = clock_param(request)
        if as_of is None:
            return _cached_by_clock(
                self, request, parts=(), compute=lambda: selectors.upcoming_predictions(limit=3)
            )
        return _cached_by_clock(
            self,
            request,
            parts=(_clock_cache_part(as_of),),
            compute=lambda: selectors.upcoming_predictions_as_of(as_of=as_of),
        )


class PredictionOverviewView(CachedJSONView):
    @extend_schema(
        operation_id="predictions_overview",
        summary="Next three races with predictions, last three with predicted vs actual and accuracy",
        description=(
            "The home page's view by the clock `as_of` (default now), from the page's own "
            "selectors, so both list the same races: `upcoming` (the next three races without "
            "results, items as in predictions/upcoming), `awaiting_results` (run, no results yet) "
            "and `recent` (the last three completed races, newest first). A recent race carries, "
            "per stage, the set the pages show (the one its accuracy record scored; labelled "
            "`backfilled` / `made_after_race` / `pre_race`) with each driver's actual finish, the "
            "results, and the accuracy record of each shown set. With `as_of`: only sets made and "
            "accuracy scored by then, the after-qualifying stage once qualifying's results were known."
        ),
        parameters=[AS_OF_PARAM],
        responses={200: serializers.OverviewOut, **error_responses(400, 404, 429)},
    )
    def get(self, request):
        as_of = clock_param(request)
        return _cached_by_clock(
            self,
            request,
            parts=("overview", _clock_cache_part(as_of)),
            compute=lambda: selectors.overview_payload(as_of=as_of),
        )


class RaceAccuracyView(CachedJSONView):
    @extend_schema(
        operation_id="predictions_accuracy_retrieve",
        summary="Post-race accuracy of the stored pre-race predictions",
        description=(
            "404 before the race has results, and when nothing of it was scored. With `as_of`: the "
            "accuracy as known at that clock, as the race page shows it (`/races/{id}/?as_of=`): "
            "only once the race's results were known (race start + 3 h; before, the 404 of a race "
            "without results) and only the records scored (`scored_at`) by then (else the 404 of an "
            "unscored race)."
        ),
        parameters=[
            RACE_ID_PARAM,
            as_of_param(shows="Only the accuracy scored by then (404 as for an unscored race before)."),
        ],
        responses={200: serializers.AccuracyOut, **error_responses(400, 404, 429)},
    )
    def get(self, request, race_id: str):
        key = f"f1:accuracy:{race_id}"
        race_cache_key(race_id)  # 400 on a malformed id before anything else
        as_of = clock_param(request)  # then the clock's 400 / 404, before any lookup
        if as_of is not None:
            key = f1cache.accuracy_clock_key(race_id, clock_key_part(as_of))

        def compute():
            race = race_get(race_id=race_id)
            payload = selectors.race_accuracy(race=race, as_of=as_of)
            if payload is None:
                raise Http404(f"Race {race.slug} has no results yet: accuracy is scored after the race")
            if not payload["stages"]:
                raise Http404(f"No stored pre-race predictions of {race.slug} have been scored")
            return payload

        return self.cached(
            request,
            key=key,
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
        description=(
            "The grid must list each of the race's entrants exactly once (its results, qualifying, "
            "sprint or practice field, else the latest race's): otherwise 409 `cannot_predict` "
            "listing every problem at once in `details.unknown` (no such driver id), "
            "`details.duplicates`, `details.not_entered` (e.g. a retired driver) and "
            "`details.missing` (all four always present). A body that is not a list of driver ids "
            "is 400 `invalid`. Every "
            "qualifying-derived feature follows the grid: the driver in slot k gets quali position "
            "k, the race's real slot-k qualifying times (gap to pole, team-mate gap; missing before "
            "qualifying) and its Q3 places; practice, sprint, form and weather stay as they are. "
            "With `as_of` (a query parameter, beside the body): the what-if as it could have been "
            "made then, as the what-if page as of that clock makes it (`/races/{id}/what-if/?as_of=`): "
            "the entrants and every feature as known then, the model version serving then "
            "(registered before the clock, never one registered since); a race started by then is "
            "409 `cannot_predict` (a what-if is a prediction made before the race), a clock before "
            "any model version was registered 409 `no_model_at_clock`."
        ),
        parameters=[
            RACE_ID_PARAM,
            as_of_param(shows="The what-if as it could have been made then, with the model serving then."),
        ],
        request=serializers.WhatIfIn,
        responses={200: serializers.WhatIfOut, **error_responses(400, 404, 409, 413, 429, 503)},
    )
    def post(self, request, race_id: str):
        race_cache_key(race_id)  # 400 on a malformed id before anything else
        as_of = clock_param(request)  # then the clock's 400 / 404
        body = serializers.WhatIfIn(data=request.data)
        body.is_valid(raise_exception=True)
        race = race_get(race_id=race_id)
        # 503 without a model, 409 cannot_predict (details: e.g. not_entered / missing drivers; at a
        # clock also a race started by then: WhatIfClockError), 409 no_model_at_clock (none
        # registered by the clock): f1site.api.exception_handler
        rows = prediction_what_if(race=race, grid=body.validated_data["grid"], as_of=as_of)
        return Response(selectors.what_if_payload(race=race, rows=rows, as_of=as_of))


CHAMPIONSHIP_SEASONS = (1950, 2100)  # the declared range of championship/{season}
_CANONICAL_YEAR = re.compile(r"[1-9][0-9]{3}")  # fullmatch: ASCII digits, no sign, zero or space


def _season_path(raw: str) -> int:
    """The championship's `{season}`: a canonical integer in CHAMPIONSHIP_SEASONS, else ValidationError."""
    low, high = CHAMPIONSHIP_SEASONS
    if _CANONICAL_YEAR.fullmatch(raw) and low <= int(raw) <= high:
        return int(raw)
    raise ValidationError(
        {
            "season": [
                f"season must be a year from {low} to {high}, written as an integer (e.g. 2026), not {raw[:20]!r}"
            ]
        }
    )


class ChampionshipView(CachedJSONView):
    # The usual anon/user throttle for every request; the "expensive" bucket only when the answer
    # is simulated (f1site.throttling.expensive_charge, called by championship_simulate before it
    # simulates rounds left), so a frontend server polling cached odds from one address, or a client
    # browsing completed seasons, is not refused. The key names the model version serving (looked up
    # before the cache read, as models/performance does, so the throttle comes first): odds simulated
    # by a stand-in while the active artifact was broken are not served once it is repaired, and
    # with no model at all the answer is the 503 the schema promises, not a cached 200 (QA).
    defer_throttle = False

    @extend_schema(
        operation_id="championship_retrieve",
        summary="Title probabilities for a season (Monte Carlo over the remaining races)",
        description=(
            "A completed season answers with its stored final standings (champion at 1.0, no model "
            "needed). Otherwise a Monte Carlo of the remaining rounds on top of the stored standings "
            "(503 without a model). Cached; only a request that simulates (a season with rounds "
            "left, not in the cache) counts against the 'expensive' rate (API_THROTTLE_EXPENSIVE, "
            "shared with what-if), every request against the usual one. With `as_of`: the "
            "championship page as of that clock (`/championship/?season=&as_of=`): the standings "
            "after the rounds whose results were known by then (race start + 3 h), every later round "
            "simulated with the model "
            "version serving then (registered before the clock) from what was known then; a season "
            "over by then is its final standings; a season with no race whose results were known by then "
            "is 404; no "
            "model version registered by then is 409 `no_model_at_clock` (a fact of that clock, "
            "not the passing 503 `model_unavailable`). One cache entry per clock."
        ),
        parameters=[
            OpenApiParameter(
                "season",
                {"type": "integer", "minimum": CHAMPIONSHIP_SEASONS[0], "maximum": CHAMPIONSHIP_SEASONS[1]},
                OpenApiParameter.PATH,
                description=(
                    "Season year. Anything else (not an integer, written with a sign, a leading "
                    "zero or a space, or outside the range) -> 400 `invalid` with `details.season`; "
                    "a year in the range without races (2027) -> 404."
                ),
            ),
            as_of_param(shows="The title fight as it stood then, simulated with the model serving then."),
        ],
        responses={200: serializers.ChampionshipOut, **error_responses(400, 404, 409, 429, 503)},
    )
    def get(self, request, season: str):
        # A str route (not <int:>) so a malformed season gets the JSON error shape, not Django's page.
        # Anything the declared parameter (an integer, 1950..2100) does not allow is one 400
        # `invalid` with details.season: `02026` or a 20-digit number was a 404 before, `abc` a
        # `bad_request`. A season in range without races (2027) is the service's 404.
        season = _season_path(season)
        as_of = clock_param(request)  # then the clock's 400 / 404
        if as_of is not None:  # the page's rule: a season not begun by then is a 404
            selectors.championship_season_at_check(season=season, as_of=as_of)

        def compute():
            # charged only when it simulates: a completed season is its stored standings
            return championship_simulate(
                season=season, clock=as_of, before_simulating=lambda: expensive_charge(request)
            )

        # A season without races (404), no model (503), none registered by the clock (409):
        # f1site.api.exception_handler. At a clock, the page's entry of that clock (one per clock).
        return self.cached(
            request,
            key=championship_cache_key(season=season, clock=as_of),
            ttl=settings.CACHE_TTL_PREDICTIONS,
            tier="championship",
            compute=compute,
        )


class ModelPerformanceView(CachedJSONView):
    # The serving version is looked up (database, artifact stat) before the cache read, since it is
    # part of the key: throttle before that work.
    defer_throttle = False

    @extend_schema(
        operation_id="models_performance",
        summary="Active model version and its metrics, the version serving, backtests, feature catalogue",
        description=(
            "With `as_of`: the model page as of that clock (`/model/?as_of=`): `active_model` and "
            "`serving_model` name the version serving then (registered before the clock; null when "
            "none had been), `what_if_model` the version a what-if or championship simulation as "
            "of then runs, `backtests` only runs finished by then; the feature catalogue is "
            "today's code. One cache entry per clock."
        ),
        parameters=[
            as_of_param(
                shows="The version serving then, the one a what-if as of then runs, and the backtests finished by then."
            ),
        ],
        responses={200: serializers.ModelPerformanceOut, **error_responses(400, 404, 429)},
    )
    def get(self, request):
        as_of = clock_param(request)
        # Which version serves changes without any signal (an artifact breaks or is repaired on disk;
        # at a past clock, a version deleted since): keyed by it, the cached answer follows on the
        # next request, as health does. At a clock: the version serving then and the one a what-if as
        # of then runs (`model_serving_at`, the model page's lookup: one query, no artifact loaded),
        # in an entry of its own per clock in the same family.
        at = None if as_of is None else model_serving_at(clock=as_of)
        serving = model_version_serving() if at is None else at.serving
        parts = (serving.label if serving is not None else "none",)
        if as_of is not None:
            parts += (clock_key_part(as_of),)
        return self.cached(
            request,
            key=f1cache.list_key("models", *parts),
            ttl=settings.CACHE_TTL_PREDICTIONS,
            tier="models",
            compute=lambda: selectors.model_performance(serving=serving, as_of=as_of, at=at),
        )
