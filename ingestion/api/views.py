"""Data endpoints (races, drivers, teams, standings, analytics), jobs status and health.

Views validate parameters, pick a cache key and TTL, and hand the database work to
ingestion/api/selectors.py; bodies are cached rendered (f1site.cache.cached_json).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from f1site import cache as f1cache
from f1site.api import (
    CachedJSONView,
    as_of_param,
    clock_param,
    error_responses,
    openapi_pattern,
    validate_query,
)
from f1site.authentication import JWTOrAnonymousAuthentication
from f1site.clock import clock_key_part
from ingestion.api import selectors, serializers
from ingestion.selectors import MalformedRaceId, race_get
from ingestion.services.health import health_report
from ingestion.services.race_ids import RACE_ID_ANY_CASE_PATTERN, parse_race_id

RACE_ID_PARAM = OpenApiParameter(
    "race_id",
    {"type": "string", "pattern": openapi_pattern(RACE_ID_ANY_CASE_PATTERN)},
    OpenApiParameter.PATH,
    description="`<season>_<name>` (e.g. 2025_bahrain) or `<season>_<round>` (e.g. 2025_4); any case "
    "(2025_BAHRAIN is 2025_bahrain)",
)


def ref_param(name: str, example: str) -> OpenApiParameter:
    """A driver/team id path parameter (Ergast ref: letters, digits, _ and -)."""
    return OpenApiParameter(
        name,
        {"type": "string", "pattern": openapi_pattern(serializers.REF_PATTERN)},
        OpenApiParameter.PATH,
        description=f"e.g. {example}",
    )


def season_ttl(season: int | None) -> int:
    """Past seasons are static; the current and future ones change with every race weekend."""
    if season is not None and season < timezone.now().year:
        return settings.CACHE_TTL_STATIC
    return settings.CACHE_TTL_DYNAMIC


def race_cache_key(race_id: str) -> str:
    """f1:race:{season}:{race_id} from the id alone (no query on the warm path); 400 if malformed.
    `race_id` is canonical already (the `<race_id:>` route converter lower-cases it)."""
    try:
        season, _, _ = parse_race_id(race_id)
    except ValueError as exc:
        raise MalformedRaceId(str(exc)) from None
    return f1cache.race_key(season, race_id)


class SeasonListView(CachedJSONView):
    # A paginated list with an optional ?season= filter (races, drivers, teams): a subclass names
    # its cache tier, its selector and, if it differs from the default, how a page is keyed and kept.
    # Every such list takes the clock `?as_of=` (its get declares it and reads it with clock_param).
    tier: str  # cache tier, and the list family bumped when the data changes
    selector: Callable[
        ..., dict
    ]  # (season=, limit=, offset=, as_of=) -> payload, from ingestion.api.selectors

    def page_key_ttl(self, season: int | None, limit: int, offset: int) -> tuple[f1cache.ListKey, int]:
        key = f1cache.list_key(self.tier, season if season is not None else "all", limit, offset)
        return key, settings.CACHE_TTL_STATIC

    def season_list(self, request):
        params = validate_query(serializers.SeasonPageParams, request)  # its 400 first, then the clock's
        as_of = clock_param(request)
        limit, offset = params.validated_page()
        season = params.validated_data.get("season")
        key, ttl = self.page_key_ttl(season, limit, offset)
        if as_of is not None:  # one entry per clock in the page's family, beside its pages
            key = f1cache.list_key(key.family, *key.parts, clock_key_part(as_of))
        select = self.selector
        return self.cached(
            request,
            key=key,
            ttl=ttl,
            tier=self.tier,
            compute=lambda: select(season=season, limit=limit, offset=offset, as_of=as_of),
        )


class RaceListView(SeasonListView):
    tier = "races"
    selector = staticmethod(selectors.race_list)

    def page_key_ttl(self, season: int | None, limit: int, offset: int) -> tuple[f1cache.ListKey, int]:
        # One family per season (a sync bumps only the seasons it touched); past seasons are static.
        # A page holding a scheduled race is fresh at most until its start (its status turns then:
        # `race_status_now` -> f1cache.compute_capped), whatever the TTL.
        family = f"races:{season if season is not None else 'all'}"
        return f1cache.list_key(family, limit, offset), season_ttl(season)

    @extend_schema(
        operation_id="races_list",
        summary="Races (filter by season), each with its status",
        description=(
            "`status`: `completed` (results stored), `awaiting_results` (started — its start time "
            "passed, or midnight UTC of race day when it has none — without results: being run, or "
            "run), `scheduled` (not started). A `season` with no race on the calendar is a 404 "
            "`not_found`, with or without a clock. With `as_of`: the races of the seasons up to the "
            "clock's year (a later `season` is a 404), each with its status at "
            "that clock, by the rule of `races/{race_id}?as_of=` (completed only once its results were "
            "known by then — start + 3 h — and stored)."
        ),
        parameters=[
            serializers.SeasonPageParams,
            as_of_param(shows="The races' statuses as they stood then."),
        ],
        responses={200: serializers.RacePageOut, **error_responses(400, 404, 429)},
    )
    def get(self, request):
        return self.season_list(request)


class RaceDetailView(CachedJSONView):
    @extend_schema(
        operation_id="races_retrieve",
        summary="One race: schedule, results, qualifying, sprint, practice, weather",
        description=(
            "With `as_of`: the race as it stood at that clock, by the race page's rules "
            "(`/races/{id}/?as_of=`): `status` by the clock, `results` and observed weather only once "
            "its results were known (start + 3 h), `sprint`, `qualifying` and `practice` only of the "
            "sessions whose results were known by then (not while held: practice start + 1 h, "
            "qualifying, sprint qualifying and sprint start + 2 h), forecasts issued before it. The schedule is the calendar's."
        ),
        parameters=[
            RACE_ID_PARAM,
            as_of_param(shows="The race as it stood then (no results of a race not yet started)."),
        ],
        responses={200: serializers.RaceDetailOut, **error_responses(400, 404, 429)},
    )
    def get(self, request, race_id: str):
        key = race_cache_key(race_id)  # 400 on a malformed id before anything else
        as_of = clock_param(request)
        season = int(race_id[:4])
        if as_of is not None:
            # One entry per clock in the season's race-list family, which every change to its races
            # bumps (as the drivers' and teams' details live in theirs).
            key = f1cache.race_clock_key(season, race_id, clock_key_part(as_of))

        def compute():
            race = race_get(race_id=race_id)
            if as_of is not None:  # the weather as known then: in this entry, not the shared one
                weather = selectors.weather_payload(race=race, as_of=as_of)
                return selectors.race_detail(race=race, weather=weather, as_of=as_of)
            weather = f1cache.cache.get(f1cache.weather_key(race.slug))
            if weather is None:
                weather = selectors.weather_payload(race=race)
                f1cache.cache.set(f1cache.weather_key(race.slug), weather, settings.CACHE_TTL_DYNAMIC)
            return selectors.race_detail(race=race, weather=weather)

        return self.cached(request, key=key, ttl=season_ttl(season), tier="race", compute=compute)


class DriverListView(SeasonListView):
    tier = "drivers"
    selector = staticmethod(selectors.driver_list)

    @extend_schema(
        operation_id="drivers_list",
        summary="Drivers (season filter: the season's race drivers, with a race result or qualifying entry; "
        "practice-only drivers are in the unfiltered list)",
        description=(
            "With `as_of`: only the race drivers of the races whose results were known by then (start + 3 h; a race result or a "
            "qualifying entry; of the `season`'s races when one is given), by the rule of "
            "`drivers/{driver_id}?as_of=`: a driver who had not yet raced is not listed. A `season` "
            "after the clock's year is a 404, as for `races`; so is, with or without a clock, a "
            "`season` with no race on the calendar (one with races but no entrant yet lists none)."
        ),
        parameters=[
            serializers.SeasonPageParams,
            as_of_param(shows="Only the drivers who had entered a race whose results were known by then."),
        ],
        responses={200: serializers.DriverPageOut, **error_responses(400, 404, 429)},
    )
    def get(self, request):
        return self.season_list(request)


class TeamListView(SeasonListView):
    tier = "teams"
    selector = staticmethod(selectors.team_list)

    @extend_schema(
        operation_id="teams_list",
        summary="Teams (constructors; season filter: teams with a race result or qualifying entry that season)",
        description=(
            "With `as_of`: only the teams with a race result or qualifying entry in a race whose results "
            "were known by then (of the `season`'s races when one is given), by the rule of `teams/{team_id}?as_of=`. "
            "A `season` after the clock's year is a 404, as for `races`; so is, with or without a "
            "clock, a `season` with no race on the calendar (one with races but no entrant yet lists none)."
        ),
        parameters=[
            serializers.SeasonPageParams,
            as_of_param(shows="Only the teams that had entered a race whose results were known by then."),
        ],
        responses={200: serializers.TeamPageOut, **error_responses(400, 404, 429)},
    )
    def get(self, request):
        return self.season_list(request)


def entity_detail_key(family: str, ref: str, *clock: str) -> f1cache.ListKey:
    """drivers/{id}, teams/{id}: `f1:drivers:g{n}:id:{ref}` in the list's family (`drivers`, `teams`),
    which every race change and every driver / team edit retires (f1site.cache): the career adds up
    all the entity's results, and a team's latest drivers or a driver's latest team print the other's
    name. Beside the list pages (`…:{season|all}:{limit}:{offset}`), never one of them. `?as_of=`: one
    entry per clock beside it, `…:id:{ref}:at:{UTC}` (`clock`: f1site.clock.clock_key_part)."""
    return f1cache.list_key(family, "id", ref, *clock)


class EntityDetailView(CachedJSONView):
    # drivers/{id}, teams/{id}: a subclass names the entity (its cache tier and 404 wording), the
    # list family its key lives in and its selector; its own `get` carries the OpenAPI schema.
    entity: str  # "driver", "team"
    family: str  # "drivers", "teams"
    selector: Callable[..., dict]  # (ref=, as_of=) -> payload, from ingestion.api.selectors

    def detail(self, request, ref: str):
        as_of = clock_param(request)  # 400 / 404 for the clock first, as analytics/driver|team/{id}
        if not serializers.REF_PATTERN.fullmatch(ref):  # never a cache key: no such id exists
            raise Http404(f"No {self.entity} with id {ref[:80]!r}")
        select = self.selector
        clock = () if as_of is None else (clock_key_part(as_of),)
        return self.cached(
            request,
            key=entity_detail_key(self.family, ref, *clock),
            ttl=settings.CACHE_TTL_STATIC,
            tier=self.entity,
            compute=lambda: select(ref=ref, as_of=as_of),
        )


ENTITY_AS_OF_PARAM = as_of_param(
    shows=(
        "The career as it stood then: every `career` figure, `latest_race` and the latest team or "
        "drivers count only races whose results were known by the clock (race start + 3 h: not a "
        "race being run then; the driver's and team's pages' `?as_of=`); none by then is the empty "
        "career of an entity without a race."
    )
)


class DriverDetailView(EntityDetailView):
    entity, family = "driver", "drivers"
    selector = staticmethod(selectors.driver_detail_get)

    @extend_schema(
        operation_id="drivers_retrieve",
        summary="One driver: the list's fields, a career summary, the latest team and race, and where "
        "to read the season aggregates",
        parameters=[ref_param("driver_id", "max_verstappen"), ENTITY_AS_OF_PARAM],
        responses={200: serializers.DriverDetailOut, **error_responses(400, 404, 429)},
    )
    def get(self, request, driver_id: str):
        return self.detail(request, driver_id)


class TeamDetailView(EntityDetailView):
    entity, family = "team", "teams"
    selector = staticmethod(selectors.team_detail_get)

    @extend_schema(
        operation_id="teams_retrieve",
        summary="One team: the list's fields, a career summary, the drivers and date of its latest race, "
        "and where to read the season aggregates",
        parameters=[ref_param("team_id", "red_bull"), ENTITY_AS_OF_PARAM],
        responses={200: serializers.TeamDetailOut, **error_responses(400, 404, 429)},
    )
    def get(self, request, team_id: str):
        return self.detail(request, team_id)


class StandingsView(CachedJSONView):
    @extend_schema(
        operation_id="standings_retrieve",
        summary="Drivers' and constructors' standings after a round (default: the latest)",
        description=(
            "With `as_of`: the standings as they stood at that clock, as the standings page shows them "
            "(`/standings/?as_of=`): after the last race whose results were known by then (start + 3 h; default season: the "
            "latest with such a race); a round run after the clock is a 404."
        ),
        parameters=[
            serializers.StandingsParams,
            as_of_param(shows="The standings after the last race whose results were known by then."),
        ],
        responses={200: serializers.StandingsOut, **error_responses(400, 404, 429)},
    )
    def get(self, request):
        params = validate_query(serializers.StandingsParams, request).validated_data
        as_of = clock_param(request)
        season, round_number = params.get("season"), params.get("round")
        family = f"standings:{season}" if season is not None else "standings:latest"
        # one entry per clock in the same family (`…:{round|last}:at:{clock}`)
        parts = (
            (round_number or "last",) if as_of is None else (round_number or "last", clock_key_part(as_of))
        )
        return self.cached(
            request,
            key=f1cache.list_key(family, *parts),
            ttl=settings.CACHE_TTL_STANDINGS,
            tier="standings",
            compute=lambda: selectors.standings_get(season=season, round_number=round_number, as_of=as_of),
        )


class JobsStatusView(CachedJSONView):
    defer_throttle = False  # answers from the database, not the cache: throttle before that work

    @extend_schema(
        operation_id="jobs_status",
        summary="Every scheduled job: last run, outcome, due time, overdue; worker and beat liveness",
        responses={200: serializers.JobsOut, **error_responses(429)},
    )
    def get(self, request):
        status = selectors.jobs_status()
        if not _is_staff(request):  # public endpoint: internals (errors, hosts, tokens) for staff only
            status = selectors.jobs_status_redact(status)
        response = Response(status)
        response["Cache-Control"] = "private, no-store"  # differs by caller: never shared by a cache
        return response


def _is_staff(request) -> bool:
    """A staff user, by session or JWT. Reading the user may query the database (a session): when
    that fails (database down, bad token), the caller is treated as anonymous; /health must answer."""
    try:
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)
    except Exception:
        return False


class HealthView(CachedJSONView):
    # A stale or otherwise unusable token is no token here (the public view), not the API's 401:
    # a probe or a browser that kept an expired JWT must still see health. Staff tokens still count.
    authentication_classes = [JWTOrAnonymousAuthentication, SessionAuthentication]
    permission_classes = [AllowAny]
    throttle_classes: list = []  # monitors poll it; it must not be throttled away

    @extend_schema(
        operation_id="health",
        summary="Database, cache, broker, worker, beat and model checks; 200 when every required check "
        "passes (a missing worker or beat degrades)",
        description="Public. Staff (a valid JWT or session) also see the worker's hostname, the beat's lock "
        "holder and the checks' error texts. A token it cannot use (expired, malformed, revoked) counts as "
        "none: the public view, never a 401 — unlike the other endpoints.",
        responses={200: serializers.HealthOut, 503: serializers.HealthOut},
    )
    def get(self, request):
        body = health_report(staff=_is_staff(request))
        response = Response(body, status=503 if body["status"] == "down" else 200)
        response["Cache-Control"] = "no-store"
        return response
