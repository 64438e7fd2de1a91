"""Data endpoints (races, drivers, teams, standings, analytics), jobs status and health.

Views validate parameters, pick a cache key and TTL, and hand the database work to
ingestion/api/selectors.py; bodies are cached rendered (f1site.cache.cached_json).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from f1site import cache as f1cache
from f1site.api import CachedJSONView, error_responses, openapi_pattern, validate_query
from ingestion.api import selectors, serializers
from ingestion.models import Race
from ingestion.selectors import MalformedRaceId, race_get
from ingestion.services.race_ids import RACE_ID_ANY_CASE_PATTERN, parse_race_id

RACE_ID_PARAM = OpenApiParameter(
    "race_id",
    {"type": "string", "pattern": openapi_pattern(RACE_ID_ANY_CASE_PATTERN)},
    OpenApiParameter.PATH,
    description="`<season>_<name>` (e.g. 2025_bahrain) or `<season>_<round>` (e.g. 2025_4); any case "
    "(2025_BAHRAIN is 2025_bahrain)",
)
_REF = serializers.REF_PATTERN  # use fullmatch


def ref_param(name: str, example: str) -> OpenApiParameter:
    """A driver/team id path parameter (Ergast ref: letters, digits, _ and -)."""
    return OpenApiParameter(
        name,
        {"type": "string", "pattern": openapi_pattern(_REF)},
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
    tier: str  # cache tier, and the list family bumped when the data changes
    selector: Callable[..., dict]  # (season=, limit=, offset=) -> payload, from ingestion.api.selectors

    def page_key_ttl(self, season: int | None, limit: int, offset: int) -> tuple[f1cache.ListKey, int]:
        key = f1cache.list_key(self.tier, season if season is not None else "all", limit, offset)
        return key, settings.CACHE_TTL_STATIC

    def season_list(self, request):
        params = validate_query(serializers.SeasonPageParams, request)
        limit, offset = params.validated_page()
        season = params.validated_data.get("season")
        key, ttl = self.page_key_ttl(season, limit, offset)
        select = self.selector
        return self.cached(
            request,
            key=key,
            ttl=ttl,
            tier=self.tier,
            compute=lambda: select(season=season, limit=limit, offset=offset),
        )


class RaceListView(SeasonListView):
    tier = "races"
    selector = staticmethod(selectors.race_list)

    def page_key_ttl(self, season: int | None, limit: int, offset: int) -> tuple[f1cache.ListKey, int]:
        # One family per season (a sync bumps only the seasons it touched); past seasons are static.
        family = f"races:{season if season is not None else 'all'}"
        return f1cache.list_key(family, limit, offset), season_ttl(season)

    @extend_schema(
        operation_id="races_list",
        summary="Races (filter by season), each with its status",
        parameters=[serializers.SeasonPageParams],
        responses={200: serializers.RacePageOut, **error_responses(400, 429)},
    )
    def get(self, request):
        return self.season_list(request)


class RaceDetailView(CachedJSONView):
    @extend_schema(
        operation_id="races_retrieve",
        summary="One race: schedule, results, qualifying, sprint, practice, weather",
        parameters=[RACE_ID_PARAM],
        responses={200: serializers.RaceDetailOut, **error_responses(400, 404, 429)},
    )
    def get(self, request, race_id: str):
        key = race_cache_key(race_id)

        def compute():
            race = race_get(race_id=race_id)
            weather = f1cache.cache.get(f1cache.weather_key(race.slug))
            if weather is None:
                weather = selectors.weather_payload(race=race)
                f1cache.cache.set(f1cache.weather_key(race.slug), weather, settings.CACHE_TTL_DYNAMIC)
            return selectors.race_detail(race=race, weather=weather)

        season = int(race_id[:4])
        return self.cached(request, key=key, ttl=season_ttl(season), tier="race", compute=compute)


class DriverListView(SeasonListView):
    tier = "drivers"
    selector = staticmethod(selectors.driver_list)

    @extend_schema(
        operation_id="drivers_list",
        summary="Drivers (season filter: the season's race drivers, with a race result or qualifying entry; "
        "practice-only drivers are in the unfiltered list)",
        parameters=[serializers.SeasonPageParams],
        responses={200: serializers.DriverPageOut, **error_responses(400, 429)},
    )
    def get(self, request):
        return self.season_list(request)


class TeamListView(SeasonListView):
    tier = "teams"
    selector = staticmethod(selectors.team_list)

    @extend_schema(
        operation_id="teams_list",
        summary="Teams (constructors; season filter: teams with a race result or qualifying entry that season)",
        parameters=[serializers.SeasonPageParams],
        responses={200: serializers.TeamPageOut, **error_responses(400, 429)},
    )
    def get(self, request):
        return self.season_list(request)


class StandingsView(CachedJSONView):
    @extend_schema(
        operation_id="standings_retrieve",
        summary="Drivers' and constructors' standings after a round (default: the latest)",
        parameters=[serializers.StandingsParams],
        responses={200: serializers.StandingsOut, **error_responses(400, 404, 429)},
    )
    def get(self, request):
        params = validate_query(serializers.StandingsParams, request).validated_data
        season, round_number = params.get("season"), params.get("round")
        family = f"standings:{season}" if season is not None else "standings:latest"
        return self.cached(
            request,
            key=f1cache.list_key(family, round_number or "last"),
            ttl=settings.CACHE_TTL_STANDINGS,
            tier="standings",
            compute=lambda: selectors.standings_get(season=season, round_number=round_number),
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
    permission_classes = [AllowAny]
    throttle_classes: list = []  # monitors poll it; it must not be throttled away

    @extend_schema(
        operation_id="health",
        summary="Database, cache, broker, worker, beat and model checks; 200 when every required check "
        "passes (a missing worker or beat degrades)",
        responses={200: serializers.HealthOut, 503: serializers.HealthOut},
    )
    def get(self, request):
        staff = _is_staff(request)
        checks = {
            "database": _check(_check_database, required=True),
            "cache": _check(_check_cache, required=False),
            "broker": _check(_check_broker, required=False),
            "worker": _check(lambda: _liveness_check("worker", staff=staff), required=False),
            "beat": _check(lambda: _liveness_check("beat", staff=staff), required=False),
            "model": _check(_check_model, required=False),
        }
        if not staff:
            for check in checks.values():
                _redact_error(check)
        failed_required = any(c["required"] and c["status"] != "ok" for c in checks.values())
        degraded = any(c["status"] not in ("ok", NOT_APPLICABLE) for c in checks.values())
        overall = "down" if failed_required else ("degraded" if degraded else "ok")
        body = {"status": overall, "checks": checks, "cache": f1cache.cache_stats(), "alerts": _alerts()}
        response = Response(body, status=503 if failed_required else 200)
        response["Cache-Control"] = "no-store"
        return response


DEGRADED = "degraded"  # a check's result between ok (True) and down (False): working, but not as it should
NOT_APPLICABLE = "n/a"  # not part of this set-up (the beat in embedded mode): neither ok nor a fault


def _check(fn, *, required: bool) -> dict:
    started = time.perf_counter()
    try:
        ok, detail = fn()
    except Exception as exc:  # a health check reports failures, it never raises
        ok, detail = False, {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    return {
        "status": ok if ok in (DEGRADED, NOT_APPLICABLE) else "ok" if ok else "down",
        "required": required,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        "detail": detail,
    }


# Error texts the checks write themselves (fixed, no hosts or paths): shown to everyone.
_PUBLIC_ERRORS = {
    "no active model version: serving the newest one that loads",
    "the active model's artifact does not load: serving a version registered before it",
    "the active model's artifact does not load: serving a version registered after it",
    "prediction engine not installed",
}


def _redact_error(check: dict) -> None:
    """For anonymous / non-staff callers of the public health endpoint: an exception's or a model
    load's message names hosts, ports and file paths (`OperationalError: connection to server at
    "10.0.3.7", port 5432 failed`, `model artifact /srv/models/... is missing`) — keep only its type."""
    error = check["detail"].get("error") if isinstance(check["detail"], dict) else None
    if error and error not in _PUBLIC_ERRORS:
        kind = error.split(":", 1)[0] if ":" in error and " " not in error.split(":", 1)[0] else "error"
        check["detail"]["error"] = f"{kind} (details for staff)"


def _check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return True, {"vendor": connection.vendor, "races": Race.objects.count()}


def _check_cache():
    if f1cache.breaker.state == "open":
        return False, {"breaker": f1cache.breaker.as_dict()}
    key = "f1:health:probe"
    value = str(time.time())
    f1cache.cache.set(key, value, timeout=10)
    ok = f1cache.cache.get(key) == value
    return ok, {"backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]}


def _check_broker():
    from f1site.celery import app

    if settings.CELERY_TASK_ALWAYS_EAGER:
        return True, {"mode": "eager (tasks run in-process)"}
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=1)
        return True, {"transport": conn.transport_cls}


def _liveness_check(role: str, *, staff: bool = False):
    """Worker / beat liveness (ingestion.services.liveness): degraded, never down, when missing —
    the site serves without them, only the pipeline stalls. The worker's hostname, the beat's lock
    holder (host:pid:token) and the store's error only for staff."""
    from ingestion.services.liveness import EAGER_BEAT, EAGER_WORKER, pipeline_liveness_get

    liveness = pipeline_liveness_get()
    if liveness["mode"] == "eager":
        if role == "beat":  # nothing sends the schedule; not a fault of the embedded set-up
            return NOT_APPLICABLE, {"mode": "eager", "state": "not running", "detail": EAGER_BEAT}
        return True, {"mode": "eager", "detail": EAGER_WORKER}
    seen = liveness[role]
    detail = {
        "state": seen["status"],
        "last_seen_at": seen["last_seen_at"].isoformat() if seen["last_seen_at"] else None,
        "seconds_ago": seen["seconds_ago"],
        "stopped_at": seen["stopped_at"].isoformat() if seen.get("stopped_at") else None,
        "name": seen["name"] if staff else "",
        "max_silence_seconds": liveness["max_silence_seconds"],
    }
    if "error" in seen and staff:
        detail["error"] = seen["error"]
    return (True if seen["status"] == "ok" else DEGRADED), detail


def _check_model():
    # Loads the model the way predictions do (model_bundle_load: the active version, else an older
    # one whose artifact loads, else as a last resort a newer one); the bundle is cached per process,
    # so this is cheap after the first call. ok = the active version serves; degraded = another
    # one does; down = none loads.
    try:
        from predictions.selectors import model_version_active
        from predictions.services import ModelUnavailable
        from predictions.services.training import model_bundle_load
    except ImportError:
        return False, {"error": "prediction engine not installed"}
    active = model_version_active()
    detail = {"active": active.label if active is not None else None}
    try:
        serving, _ = model_bundle_load()
    except ModelUnavailable as exc:
        return False, {**detail, "serving": None, "error": str(exc)[:300]}
    detail["serving"] = serving.label
    if active is None:
        return DEGRADED, {**detail, "error": "no active model version: serving the newest one that loads"}
    if serving.pk != active.pk:
        # "registered", not "newer"/"older": a version registered later (a backfill model) may be
        # trained on older data; the serving label says which one it is
        which = "after" if serving.created_at > active.created_at else "before"
        which = f"a version registered {which} it"
        return DEGRADED, {**detail, "error": f"the active model's artifact does not load: serving {which}"}
    return True, detail


def _alerts():
    try:
        from f1site.observability import alerts_evaluate
    except ImportError:
        return None
    try:
        return alerts_evaluate()
    except Exception as exc:  # alerts are informative; never fail health on them
        return {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
