"""Fan dashboards (server-rendered, HTMX partials) and the staff data-freshness page.

Views only validate input, call selectors/services and render. HTMX requests (`request.htmx`) get
the partial template alone, except htmx's history-restore requests (`_wants_partial`); everything
else gets the full page, so every page reads without JS.
Prediction pieces come from `predictions.selectors` (imported as `engine`) and
`predictions.services`; when the engine has nothing yet (no trained model, no predictions) the pages
say so instead of failing. Live positions come from the pipeline's `live_status_get`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import timedelta
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.cache import cache
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    HttpResponseRedirect,
)
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from rest_framework.exceptions import Throttled

from analytics import charts, selectors
from f1site import cache as f1cache
from f1site.clock import ClockInFuture, ClockParamMalformed, clock_param_read, clock_to_text
from f1site.throttling import expensive_charge, page_render_charge
from ingestion.models import Race
from ingestion.selectors import (
    MalformedRaceId,
    race_get,
    race_results_known,
    race_status,
    session_results_known,
)
from ingestion.services.live_timing import live_status_get
from predictions import selectors as engine
from predictions.ml.backtest import ABLATION_FEATURES
from predictions.ml.metrics import RANK_METRICS
from predictions.models import PredictionStage
from predictions.selectors import race_prediction_unavailable
from predictions.services import (
    ModelUnavailable,
    NoModelAtClock,
    SeasonWithoutRaces,
    championship_cache_key,
    championship_simulate,
    prediction_what_if,
)
from predictions.services.predicting import PredictionInputError
from predictions.services.training import model_serving_at, model_version_serving
from predictions.services.what_if import WhatIfBusy

logger = logging.getLogger(__name__)


def read_only_page(view):
    """GET and HEAD only, 405 for anything else. CSRF-exempt so a POST gets that 405, not the CSRF
    middleware's 403 (which runs first): these views never act on an unsafe method, so there is no
    state change to protect. Every render counts against the client's PAGE_THROTTLE: a page-cached
    view (`_page_cache`) charges only its cache misses, any other view each request."""
    if not getattr(view, "page_cached", False):
        view = _render_throttled(view)
    return csrf_exempt(require_safe(view))


def _render_throttled(view):
    """Charge the client's 'page' bucket (PAGE_THROTTLE) before running `view`; over it, the site's
    429 page. The pages had no rate limit (only the API's views were throttled): QA sec #3."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            page_render_charge(request)
        except Throttled as exc:
            return _too_many_requests(request, max(1, round(exc.wait or 1)))
        return view(request, *args, **kwargs)

    return wrapper


def _too_many_requests(request: HttpRequest, retry_after: int) -> HttpResponse:
    """429 with `Retry-After`, the site's own error page (`templates/429.html`), never cached. An
    htmx request gets it too: htmx swaps nothing on a 4xx, so the page stays as it was."""
    response = render(request, "429.html", {"retry_after": retry_after}, status=429)
    response["Retry-After"] = str(retry_after)
    patch_cache_control(response, no_store=True)
    return response


def _page_cache(ttl_setting: str, *, reads: tuple[str, ...] = (), reads_prefix: str = ""):
    """Cache a page's rendered HTML for anonymous GETs and HEADs (fans), keyed by the view and its
    URL arguments (as converted: a race id in any case is the canonical one), the query
    parameters the view reads (`reads`, plus any starting with `reads_prefix`: the what-if's
    `grid_…`) in canonical order, and the kind of request (`_request_kind`: plain page, HTMX
    partial, htmx history restore), with the view's `Vary` header (the HTMX partials vary on
    `HX-Request` and `HX-History-Restore-Request`) and its `HX-*` response headers.

    Any other parameter (`?utm=…`, `?fbclid=…`) is not in the key: the page ignores it, so the URL
    shares the entry of the URL without it (QA sec #3: each junk value was a render and a new 12-28
    KB entry kept up to an hour). A URL that repeats a parameter the page reads
    (`?season=1&season=2025`) is rendered but not kept: no link repeats one, and each such prefix
    would be another copy. A miss (a render) counts against the client's PAGE_THROTTLE; a hit does
    not. Staff and logged-in users always get a fresh render (their pages differ: the staff nav
    link), charged the same way. Only 200 answers are kept, and not one the view marks
    `page_cacheable = False`; the TTL comes from settings (`CACHE_TTL_DYNAMIC` for pages that
    follow predictions and results, `CACHE_TTL_STANDINGS` for season pages), capped at the moment
    the page changes by itself (`f1cache.compute_capped`: a scheduled race's start turns its status).
    """

    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in ("GET", "HEAD") or request.user.is_authenticated:
                return rendered(request, *args, **kwargs)
            read = sorted(
                (name, values)
                for name, values in request.GET.lists()
                if name in reads or (reads_prefix and name.startswith(reads_prefix))
            )
            if any(len(values) > 1 for _, values in read):
                return rendered(request, *args, **kwargs)
            query = urlencode([(name, values[0]) for name, values in read])
            # the view and its URL arguments, not the raw path: the race id converter has already
            # made `2025_BAHRAIN` (any of its 2^n spellings) the `2025_bahrain` the page shows
            target = f"{view.__module__}.{view.__qualname__}:{sorted(kwargs.items())!r}:{args!r}"
            path = f"{target}?{query}|{_request_kind(request)}"
            key = "f1:page:" + hashlib.sha256(path.encode()).hexdigest()[:32]
            hit = cache.get(key)
            if hit is not None:
                content_type, body, vary, htmx_headers = hit
                response = HttpResponse(body, content_type=content_type)
                if vary:
                    response["Vary"] = vary
                for name, value in htmx_headers.items():
                    response[name] = value
                return response
            # kept at most until the page changes by itself (a scheduled race's start: its status)
            response, ttl = f1cache.compute_capped(
                lambda: rendered(request, *args, **kwargs), getattr(settings, ttl_setting)
            )
            if (
                response.status_code == 200
                and not response.streaming
                and "no-store" not in response.get("Cache-Control", "")
                and getattr(response, "page_cacheable", True)
                and int(ttl) > 0  # whole seconds, never past the change (0 would not be kept anyway)
            ):
                # the HX-* headers too: they steer htmx (standings' HX-Push-Url for the round shown)
                htmx_headers = {k: v for k, v in response.items() if k.lower().startswith("hx-")}
                entry = (response["Content-Type"], response.content, response.get("Vary", ""), htmx_headers)
                cache.set(key, entry, int(ttl))
            return response

        rendered = _render_throttled(view)
        wrapper.page_cached = True
        return wrapper

    return decorator


def _race(race_id: str) -> Race:
    try:
        return race_get(race_id=race_id)
    except MalformedRaceId as exc:
        raise Http404(str(exc)) from None


_CANONICAL_INT = re.compile(r"0|[1-9][0-9]{0,8}")  # fullmatch: ASCII digits, no sign/zero/space/_
# A whole number written plainly, of any size, negative too: a number, if not a usable one (fullmatch)
_PLAIN_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")


def _int_param(request: HttpRequest, name: str) -> int | None:
    """`?name=` as a plain non-negative integer, None when absent or empty; 404 otherwise. Only the
    canonical spelling: int() also read ` 2025`, `02025`, `+2025`, `2_025` and non-ASCII digits, each
    an alias rendering (and caching) another copy of the same page."""
    raw = request.GET.get(name)
    if raw in (None, ""):
        return None
    if not _CANONICAL_INT.fullmatch(raw):
        raise Http404(f"{name} must be a number")
    return int(raw)


def _wants_partial(request: HttpRequest) -> bool:
    """An HTMX request that swaps a piece of the page. Not a history restore: on a miss in its
    history cache (10 pages) htmx re-requests the URL with `HX-Request` *and*
    `HX-History-Restore-Request` and puts the answer in place of the whole <body>, so it needs the
    full page (a partial there lost the header, nav, h1 and footer)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def _request_kind(request: HttpRequest) -> str:
    """The page cache's split: a plain page, an HTMX partial or a history restore. A restore is kept
    apart from the plain page too: an HTMX request may answer what a plain one 404s (standings'
    round fallback), and that answer must never be served to a plain navigation."""
    if not request.htmx:
        return "page"
    return "restore" if request.htmx.history_restore_request else "htmx"


def _partial(request: HttpRequest, full: str, partial: str, context: dict) -> HttpResponse:
    """The partial for HTMX swaps, else (plain requests, htmx history restores) the full page.
    `Vary: HX-Request, HX-History-Restore-Request` keeps a browser (or proxy) from answering a plain
    navigation or a history restore, e.g. back/forward after `hx-push-url`, with a cached bare
    partial (a restore carries `HX-Request` too), or a swap with a cached full page."""
    response = render(request, partial if _wants_partial(request) else full, context)
    patch_vary_headers(response, ("HX-Request", "HX-History-Restore-Request"))
    return response


# --- home, race ------------------------------------------------------------------------------


@read_only_page
@_page_cache("CACHE_TTL_DYNAMIC", reads=("as_of",))
def home(request: HttpRequest) -> HttpResponse:
    as_of = _as_of_param(request)
    # The engine's race lists (same as-of rules as prediction_overview), with predictions and
    # accuracy fetched for all races at once so the query count does not grow with the calendar.
    # A past race's card shows the set that was scored (one set for the predicted winner and the
    # numbers). With ?as_of, only what had been made (and scored) by then, and the post-qualifying
    # stage only once qualifying's results were known: the page as it stood that day, not today's sets.
    upcoming = engine.race_list_upcoming(as_of=as_of)
    recent = engine.race_list_recent_completed(as_of=as_of)
    awaiting = engine.race_list_awaiting_results(as_of=as_of)
    shown = engine.prediction_sets_shown(races=upcoming + recent, as_of=as_of)
    forecasts = selectors.race_forecasts_map(races=upcoming, as_of=as_of)  # as issued by then
    winners = selectors.race_winners_map(races=recent)
    past_cards = []
    for r in recent:
        stages, by_stage = shown[r.pk]["predictions"], shown[r.pk]["accuracy"]
        podium = _podium(stages, stage=_scored_stage(stages, by_stage))
        past_cards.append(
            {
                "race": r,
                "winners": winners.get(r.pk, []),
                "accuracy": by_stage.get(podium["stage"]),
                "predicted_winner": (podium["podium"] or [{}])[0].get("name"),
                **podium,
            }
        )
    context = {
        "as_of": as_of,
        "upcoming_cards": [
            {"race": r, "forecast": forecasts.get(r.pk), **_podium(shown[r.pk]["predictions"])}
            for r in upcoming
        ],
        "past_cards": past_cards,
        "awaiting": awaiting,
        "season_over": None if upcoming else _season_over(recent=recent, awaiting=awaiting),
    }
    return render(request, "analytics/home.html", context)


def _season_over(*, recent: list, awaiting: list) -> dict | None:
    """With no race to come: the calendar's last race (run, with results or awaiting them) and the
    season after it, for "The 2026 season is over" in place of an empty "Next races" list. From the
    lists the page already has: the last race awaiting results is later than every completed one."""
    last = awaiting[-1] if awaiting else (recent[0] if recent else None)
    if last is None:
        return None  # no race at all (an empty database)
    return {"season": last.season_id, "last_race": last, "next_season": last.season_id + 1}


def _scored_stage(stages: dict, accuracy: dict) -> str:
    """The stage a past race's card and page describe: the post-qualifying one when it was scored
    or nothing was, else the scored pre-qualifying one (its numbers and its rows agree)."""
    if "post" in accuracy or ("pre" not in accuracy and "post" in stages):
        return "post"
    return "pre"


def _as_of_param(request: HttpRequest):
    """Optional `?as_of=YYYY-MM-DD` (00:00 UTC that day, as `predict --as-of` reads it) or an ISO
    date-time: the home page, a race page and its "Why?" as they looked then (404 if malformed,
    repeated or empty, or if that moment is still to come: there is no page as of then yet)."""
    try:
        return clock_param_read(values=request.GET.getlist("as_of"))
    except (ClockParamMalformed, ClockInFuture) as exc:
        raise Http404(str(exc)) from None


def _podium(stages, *, stage: str | None = None) -> dict:
    """Predicted podium (`stage`, default the post-qualifying stage when present) with names, win
    probabilities and what the set is: model version, when made, backfilled / made after the race."""
    stages = stages or {}
    if stage is None or not stages.get(stage):
        stage = "post" if stages.get("post") else "pre"
    rows = stages.get(stage) or []
    top = rows[:3]
    first = rows[0] if rows else None
    return {
        "podium": [
            {"name": p.driver.full_name, "ref": p.driver.ref, "win_probability": p.win_probability}
            for p in top
        ],
        "low_confidence": any(p.low_confidence for p in top),
        "stage": stage,
        "made": first,  # the set's first row: model_version, created_at, backfilled, made_after_race
    }


_STATUS_LABELS = {
    "completed": "Results in",
    "awaiting_results": "Awaiting results",
    "scheduled": "Scheduled",
    "removed_upstream": "Removed from the calendar",
}


@read_only_page
@_page_cache("CACHE_TTL_DYNAMIC", reads=("season", "as_of"))
def race_calendar(request: HttpRequest) -> HttpResponse:
    # ?as_of= (the home page's clock, same parser and 404s): the calendar as it stood then — seasons
    # up to the clock's, a winner only for races with results known by then; every link keeps the clock
    as_of = _as_of_param(request)
    seasons = selectors.calendar_seasons(as_of=as_of)
    season = _season_choice(request, seasons)
    races = selectors.season_races(season=season)
    winners = selectors.race_winners_map(races=races, as_of=as_of)
    context = {
        "as_of": as_of,
        "today": _without_clock(request),
        "seasons": seasons,
        "season": season,
        "races": [{"race": r, "winners": winners.get(r.pk, [])} for r in races],
    }
    return render(request, "analytics/calendar.html", context)


def _schedule(race: Race) -> list[tuple[str, object]]:
    sessions = [
        ("Practice 1", race.fp1_start),
        ("Practice 2", race.fp2_start),
        ("Practice 3", race.fp3_start),
        ("Sprint qualifying", race.sprint_qualifying_start),
        ("Sprint", race.sprint_start),
        ("Qualifying", race.qualifying_start),
        ("Race", race.start),
    ]
    return sorted(((n, t) for n, t in sessions if t), key=lambda s: s[1])


@read_only_page
@_page_cache("CACHE_TTL_DYNAMIC", reads=("as_of",))
def race_detail(request: HttpRequest, race_id: str) -> HttpResponse:
    as_of = _as_of_param(request)
    race = _race(race_id)
    # With ?as_of (a link from the home page as of that clock) the race as it stood then: its status
    # by the clock (awaiting results from the start), the results and the observed weather once they
    # were known — its start plus three hours, not while it was being run (with the status: the race
    # lists' rule),
    # sprint and qualifying rows once those sessions' results were known (`features.clock`'s
    # `session_results_known`: not while the session was held), only the sets made and accuracy
    # scored by then, the forecast issued before it, and no live panel. A session whose results
    # were not known yet costs no query.
    known = session_results_known(race=race, clock=as_of)
    race_state = race_status(race=race, as_of=as_of)
    ran = as_of is None or race_results_known(race=race, as_of=as_of)
    results = selectors.race_results_list(race=race) if ran else []
    # A completed race shows the set its accuracy scored (else the pre-race one), so the MAE, the
    # chart and the tables describe the same prediction.
    shown = engine.prediction_sets_shown(races=[race], as_of=as_of)[race.pk]
    scored_stage = _scored_stage(shown["predictions"], shown["accuracy"])
    accuracy = shown["accuracy"].get(scored_stage)
    status = _STATUS_LABELS.get(race_state)
    live = _live_status(race) if as_of is None else None  # live timing is now, not then
    stages = _prediction_stages(shown["predictions"])
    # When the scored set was made (the home card says it too): its first row, already loaded for
    # the stage's own label, so no extra query.
    scored_made = next(
        (
            s["made"]
            for s in stages
            if accuracy is not None and s["stage"] == scored_stage and s["made"].batch == accuracy.batch
        ),
        None,
    )
    chart = None
    if results and stages:
        chart_stage = next((s for s in stages if s["stage"] == scored_stage), stages[-1])
        chart = _predicted_vs_actual_chart(race, chart_stage, results)
    unpredictable = race_prediction_unavailable(race=race)  # at any clock (a race before 1996)
    context = {
        "as_of": as_of,
        "race": race,
        "schedule": _schedule(race),
        "results": results,
        "sprint": selectors.race_sprint_list(race=race) if "sprint" in known else [],
        "qualifying": selectors.race_qualifying_list(race=race) if "qualifying" in known else [],
        "weather": selectors.race_weather_get(race=race) if ran else None,  # observed during it
        "forecast": selectors.race_forecast_get(race=race, as_of=as_of),
        "stages": stages,
        "accuracy": accuracy,
        "scored_made": scored_made,
        "status": status,
        "race_state": race_state,  # completed / awaiting_results / scheduled / removed_upstream
        "live": live,
        "weekend_now": as_of is None and _weekend_now(race),
        "chart": chart,
        # the what-if button says why it is off rather than lead to a page that refuses: the race
        # cannot be predicted at all, or — at a clock — had started by then or had no model yet
        "unpredictable": unpredictable,  # why no prediction (nor what-if) can be made, or None
        "what_if_off_at_clock": None
        if as_of is None or unpredictable
        else engine.what_if_unavailable_at(race=race, as_of=as_of),
    }
    return render(request, "analytics/race.html", context)


def _live_status(race: Race) -> dict:
    """The pipeline's live status for `race` as template data.

    state: idle (no session now) | live | unavailable (a session is on but no fresh data).
    """
    status = live_status_get(race=race)
    drivers = list(getattr(status, "drivers", []) or [])
    names = selectors.drivers_by_number(race=race, numbers=[d["driver_number"] for d in drivers])
    for row in drivers:
        row["driver"] = names.get(row["driver_number"])
    return {
        "state": status.state,
        "active": status.state in ("live", "unavailable"),
        "session_name": status.session_name,
        "updated_at": status.updated_at,
        "reason": status.reason,
        "positions": drivers,
        "messages": list(getattr(status, "messages", []) or [])[:5],
    }


def _weekend_now(race: Race) -> bool:
    """True from a day before the first session to a day after the race: the page polls for live data.
    Never for a race upstream no longer lists (no session will be run for it)."""
    if race.removed_upstream_at is not None:
        return False
    first = min((t for _, t in _schedule(race)), default=None)
    start = (first.date() if first else race.date) - timedelta(days=1)
    return start <= timezone.now().date() <= race.date + timedelta(days=1)


@read_only_page
def race_live(request: HttpRequest, race_id: str) -> HttpResponse:
    """The live panel's polling fragment. Only the panel's own htmx poll wants the bare fragment; a
    plain visit (a shared or bookmarked link) is sent to the race page's live panel, which reads
    without JS."""
    race = _race(race_id)
    if not _wants_partial(request):
        target = reverse("analytics:race", kwargs={"race_id": race.slug}) + "#live-panel"
        response = HttpResponseRedirect(target)
        patch_vary_headers(response, ("HX-Request", "HX-History-Restore-Request"))
        return response
    context = {"race": race, "live": _live_status(race), "weekend_now": _weekend_now(race)}
    return render(request, "analytics/partials/live.html", context)


def _prediction_stages(predictions: dict[str, list]) -> list[dict]:
    """{stage: rows} -> [{stage, label, rows, made}], pre-qualifying first; `made` is the set's
    first row (model version, created_at, backfilled, made_after_race) for the set's label."""
    labels = {"pre": "Before qualifying", "post": "After qualifying"}
    return [
        {"stage": stage, "label": labels.get(stage, stage), "rows": rows, "made": rows[0]}
        for stage, rows in sorted(predictions.items(), key=lambda kv: kv[0] != "pre")
        if rows
    ]


def _predicted_vs_actual_chart(race: Race, stage: dict, results) -> object:
    actual = {r.driver_id: r.position_order for r in results}
    points = []
    for p in stage["rows"]:
        if p.driver_id in actual:
            label = f"{p.driver.code or p.driver.family_name}: predicted P{p.predicted_position}, finished P{actual[p.driver_id]}"
            points.append((float(p.predicted_position), float(actual[p.driver_id]), label))
    if not points:
        return None
    return {
        "svg": charts.scatter_chart(
            points=points,
            title=f"{race.name}: predicted vs actual finishing position",
            desc="Each dot is a driver; on the dashed line the prediction was exact. "
            "The table below lists every driver's predicted and actual position.",
            x_label="Predicted position",
            y_label="Actual",
            max_value=float(max(max(p[0], p[1]) for p in points)),
        ),
        "rows": sorted(points),
    }


@read_only_page
@_page_cache("CACHE_TTL_DYNAMIC", reads=("stage", "as_of"))
def prediction_why(request: HttpRequest, race_id: str, driver_ref: str) -> HttpResponse:
    as_of = _as_of_param(request)  # the race page's clock, so "Why?" explains the row it shows
    race = _race(race_id)
    driver = selectors.driver_get(ref=driver_ref)
    stage = request.GET.get("stage", "")
    if stage and stage not in PredictionStage.values:  # not "no current prediction for this driver"
        valid = " or ".join(f"{value} ({label.lower()})" for value, label in PredictionStage.choices)
        raise Http404(f"stage must be {valid}")
    # The rows the race page shows (for a completed race the scored set, not the newest; with
    # ?as_of the set shown as of that clock).
    stages = _prediction_stages(
        engine.prediction_sets_shown(races=[race], as_of=as_of)[race.pk]["predictions"]
    )
    rows = [p for s in stages if not stage or s["stage"] == stage for p in s["rows"]]
    prediction = next((p for p in rows if p.driver_id == driver.pk), None)
    if prediction is None:
        if stage:  # say which stage: e.g. post before qualifying has no set yet
            label = PredictionStage(stage).label.lower()
            raise Http404(f"No current prediction {label} for {driver.full_name} in the {race.name}")
        raise Http404(f"No current prediction for {driver.full_name} in the {race.name}")
    descriptions = {f["name"]: f["description"] for f in engine.feature_catalogue()}
    contributions = [
        {**c, "label": descriptions.get(c.get("feature"), c.get("feature"))}
        for c in prediction.explanation or []
    ]
    context = {
        "race": race,
        "driver": driver,
        "prediction": prediction,
        "stage": stage,
        "contributions": contributions,
        "as_of": as_of,
        # the as-of notice's "Back to today": this explanation without the clock
        "today": request.path + (f"?{urlencode({'stage': stage})}" if stage else ""),
    }
    return _partial(request, "analytics/why.html", "analytics/partials/why.html", context)


# --- drivers, teams --------------------------------------------------------------------------


def _without_clock(request: HttpRequest, *, keep: tuple[str, ...] = ("season",)) -> str:
    """The as-of notice's "Back to today": this page's URL without the clock, keeping only the
    parameters the page reads (`keep`, validated by then): any other one is not in the page-cache
    key, so echoing it would serve one visitor's `?utm=…` in everyone's link."""
    kept = [(name, request.GET[name]) for name in keep if request.GET.get(name)]
    return request.path + (f"?{urlencode(kept)}" if kept else "")


def _canonical_redirect(request: HttpRequest, name: str, ref: str) -> HttpResponse:
    """A driver's or team's page asked for with its id in another case (`/drivers/Hamilton/`): a
    permanent redirect to the stored spelling's URL, query string kept. Race ids in any case are
    served as they are (the `<race_id:>` converter folds them before the page-cache key); a driver
    ref cannot be folded without the database (`Cannoc`, `scott_Brown`), so the other spellings get
    the redirect (never kept in the page cache: one entry per page, not one per spelling)."""
    query = request.META.get("QUERY_STRING", "")
    target = reverse(name, args=[ref]) + (f"?{query}" if query else "")
    return HttpResponsePermanentRedirect(target)


def _season_choice(request: HttpRequest, seasons: list[int], *, subject: str = "", as_of=None) -> int:
    """`?season=` among `seasons` (default the latest), else 404. `subject` names whose seasons they
    are (a driver, a team): a season that has results, just none of theirs, is "<subject> did not
    race in <season>", not "No results in <season>" (QA: Hamilton 1990, Cadillac 2025). `as_of`: the
    page's clock, so a season whose races came later is "No results" then, as it was."""
    season = _int_param(request, "season")
    if season is None:
        if not seasons:
            raise Http404("No results")
        return seasons[0]
    if season not in seasons:
        if subject and selectors.season_has_results(season=season, as_of=as_of):
            raise Http404(f"{subject} did not race in {season}")
        raise Http404(f"No results in {season}")
    return season


@read_only_page
@_page_cache("CACHE_TTL_STANDINGS", reads=("season", "as_of"))
def driver_detail(request: HttpRequest, ref: str) -> HttpResponse:
    # ?as_of= (the home page's clock, same parser and 404s; the clock pages' links carry it): the
    # career and season as they stood then — results, metrics, charts and championship figures of
    # the races whose results were known by the clock only (`races_with_results_known_by`, the race
    # lists' rule: not a race being run then).
    as_of = _as_of_param(request)
    driver = selectors.driver_get(ref=ref, any_case=True)
    if driver.ref != ref:  # typed in another case: the page's one address
        return _canonical_redirect(request, "analytics:driver", driver.ref)
    seasons = selectors.driver_seasons(driver=driver, as_of=as_of)
    clock = {"as_of": as_of, "today": _without_clock(request)}
    if not seasons:
        # No race start yet (a practice-only FP1 driver; at a clock, none by then): the driver's
        # page says so and lists the practice sessions, as the API answers `available: false`,
        # rather than a 404. Any season is the same story; a malformed one is still a 404.
        _int_param(request, "season")
        practice = selectors.driver_practice_list(driver=driver, as_of=as_of)
        context = {"driver": driver, "practice": practice, **clock}
        return render(request, "analytics/driver_no_starts.html", context)
    season = _season_choice(request, seasons, subject=driver.full_name, as_of=as_of)
    analytics = selectors.driver_analytics_get(driver=driver, season=season, as_of=as_of)
    form = analytics["form"]["per_race"]
    labels = [f"R{r['round']}" for r in form]
    champ = analytics["championship"]["per_round"]
    context = {
        **clock,
        "driver": driver,
        "seasons": seasons,
        "season": season,
        "a": analytics,
        "results": selectors.driver_results_list(driver=driver, season=season, as_of=as_of),
        "form_chart": charts.line_chart(
            series=[
                charts.Series("Points", [r["points"] for r in form]),
                charts.Series("3-race average", [r["rolling_points"] for r in form]),
            ],
            x_labels=labels,
            title=f"{driver.full_name}: points per race weekend in {season}",
            desc=f"Championship points scored each round of {season}, Grand Prix plus sprint, and the "
            "3-race rolling average; the results table lists the two parts.",
            y_label="Points",
            y_min=0,
            with_table=True,
        ),
        "position_chart": charts.line_chart(
            series=[charts.Series("Championship position", [r["position"] for r in champ])],
            x_labels=[f"R{r['round']}" for r in champ],
            title=f"{driver.full_name}: championship position after each round of {season}",
            desc="Lower is better (1 = leading the championship).",
            y_label="Position",
            invert_y=True,
            y_min=1,
            with_table=True,
        )
        if champ
        else None,
    }
    return render(request, "analytics/driver.html", context)


@read_only_page
@_page_cache("CACHE_TTL_STANDINGS", reads=("season", "as_of"))
def team_detail(request: HttpRequest, ref: str) -> HttpResponse:
    as_of = _as_of_param(request)  # as the driver's page: the season as it stood at the clock
    team = selectors.team_get(ref=ref, any_case=True)
    if team.ref != ref:  # as the driver's
        return _canonical_redirect(request, "analytics:team", team.ref)
    seasons = selectors.team_seasons(team=team, as_of=as_of)
    clock = {"as_of": as_of, "today": _without_clock(request)}
    if not seasons:
        # No race entry yet (a team synced before its first race; at a clock, none by then): the
        # page says so, as the API answers `available: false` and a driver without a start gets
        # his page, rather than a 404.
        _int_param(request, "season")  # a malformed one is still a 404
        return render(request, "analytics/team_no_entries.html", {"team": team, **clock})
    season = _season_choice(request, seasons, subject=team.name, as_of=as_of)
    analytics = selectors.team_analytics_get(team=team, season=season, as_of=as_of)
    dev = analytics["development"]["per_race"]
    champ = analytics["championship"]["per_round"]
    ranking = selectors.team_ranking_named(ranking=analytics["qualifying_pace_ranking"])
    context = {
        **clock,
        "team": team,
        "seasons": seasons,
        "season": season,
        "a": analytics,
        "ranking": ranking,
        "drivers": selectors.team_drivers_list(team=team, season=season, as_of=as_of),
        "results": selectors.team_results_list(team=team, season=season, as_of=as_of),
        "dev_chart": charts.line_chart(
            series=[charts.Series("Gap to fastest car (%)", [r["gap_pct"] for r in dev])],
            x_labels=[f"R{r['round']}" for r in dev],
            title=f"{team.name}: qualifying gap to the fastest car, {season}",
            desc="Percentage gap of the team's best qualifying lap to the fastest car, race by race; lower is faster.",
            y_label="Gap %",
            y_min=0,
            with_table=True,
        )
        if dev
        else None,
        "pace_chart": charts.bar_chart(
            items=[(r["name"], r["median_gap_pct"] or 0.0) for r in ranking],
            title=f"Qualifying pace ranking {season}",
            desc="Median gap of each team's best qualifying lap to the fastest car; shorter bars are faster cars.",
            unit="%",
            highlight=team.name,
        )
        if ranking
        else None,
        "position_chart": charts.line_chart(
            series=[charts.Series("Constructors' position", [r["position"] for r in champ])],
            x_labels=[f"R{r['round']}" for r in champ],
            title=f"{team.name}: constructors' championship position, {season}",
            desc="Position after each round; lower is better.",
            y_label="Position",
            invert_y=True,
            y_min=1,
            with_table=True,
        )
        if champ
        else None,
    }
    return render(request, "analytics/team.html", context)


# --- standings -------------------------------------------------------------------------------


@read_only_page
@_page_cache("CACHE_TTL_STANDINGS", reads=("season", "round", "as_of"))
def standings(request: HttpRequest) -> HttpResponse:
    # ?as_of= (the home page's clock, same parser and 404s): the standings as they stood then — the
    # seasons and rounds whose results were known by the clock, after the last of them by default
    as_of = _as_of_param(request)
    seasons = selectors.season_list(as_of=as_of)
    season = _season_choice(request, seasons)
    round_number = _int_param(request, "round")
    rounds = {r.round for r in selectors.season_rounds(season=season, as_of=as_of)}
    fallback = False
    if round_number is not None and round_number not in rounds:
        # The page's season form sends the season alone (its latest round is shown); a round the
        # season lacks comes only from an old page or a hand-made URL: HTMX (a swap, or a history
        # restore, which htmx drops unless 2xx) gets the latest round.
        if request.htmx:
            round_number, fallback = None, True
        else:
            raise Http404(f"No standings after round {round_number} of {season}")
    table = selectors.standings_get(season=season, round=round_number, as_of=as_of)
    progression = selectors.points_progression_get(season=season, as_of=as_of)
    context = {
        "as_of": as_of,
        "today": _without_clock(request, keep=("season", "round")),
        "seasons": seasons,
        "season": season,
        "table": table,
        "progression": progression,
        "progression_chart": charts.line_chart(
            series=[charts.Series(s["label"], s["points"]) for s in progression["series"]],
            x_labels=[f"R{r}" for r in progression["rounds"]],
            title=f"Points progression {season}: top {len(progression['series'])} drivers",
            desc="Cumulative championship points after each round; the table below the chart lists them."
            + "".join(
                f" {s['name']} was excluded from the championship: points as scored."
                for s in progression["series"]
                if s.get("excluded")
            ),
            y_label="Points",
            y_min=0,
        )
        if progression["series"]
        else None,
    }
    response = _partial(
        request, "analytics/standings.html", "analytics/partials/standings_swap.html", context
    )
    if fallback and _wants_partial(request):
        # The forms push the URL they sent (`hx-push-url="true"`), whose round is a 404 on reload:
        # the response's HX-Push-Url overrides the attribute (still one history entry per press)
        # with the URL of the round shown. (A history restore reads no response headers.)
        shown = urlencode(
            {
                "season": season,
                "round": table["round"],
                **({"as_of": clock_to_text(clock=as_of)} if as_of else {}),
            },
            safe=":",  # the clock spelt as the page's links spell it
        )
        response["HX-Push-Url"] = f"{reverse('analytics:standings')}?{shown}"
    return response


# --- model, championship, what-if ------------------------------------------------------------


@read_only_page
@_page_cache("CACHE_TTL_STANDINGS", reads=("as_of",))
def model_performance(request: HttpRequest) -> HttpResponse:
    # ?as_of= (the home page's clock, same parser and 404s): the page as it stood then — the version
    # serving then (`model_serving_at`: registered before the clock, no artifact loaded), the one a
    # what-if as of then runs when that differs (the same lookup `model_bundle_at` uses) and the
    # backtests finished by then. The feature catalogue is today's code (the page says so).
    as_of = _as_of_param(request)
    # The headline is the post-qualifying backtest over the standard period (else the latest one of
    # the stage, labelled with its seasons), then the pre-qualifying one: never whichever ran last.
    headlines = engine.backtest_headlines(as_of=as_of)
    backtest = next(iter(headlines.values()), None)
    at = None
    if as_of is None:
        model = engine.model_version_active()
        serving = model_version_serving()  # the active one, unless its artifact cannot be loaded
    else:  # whether its files loaded then is not recorded: the version serving then is the one named
        at = model_serving_at(clock=as_of)
        model = serving = at.serving
    catalogue = engine.feature_catalogue()
    calibration = _calibration_groups((backtest.results if backtest else None) or {})
    standard = engine.BACKTEST_STANDARD_SEASONS
    context = {
        "as_of": as_of,
        "today": reverse("analytics:model"),
        "backtest": backtest,
        "backtests": [
            {
                "run": run,
                "label": "After qualifying" if stage == "post" else "Before qualifying",
                "seasons_label": _seasons_label(run.seasons),
                "seasons_phrase": _seasons_phrase(run.seasons),
                "standard": sorted(run.seasons or []) == standard,
                "seasons": _season_rows((run.results or {}).get("seasons"), stage=stage),
                "overall": _variants((run.results or {}).get("overall") or {}, stage=stage),
            }
            for stage, run in headlines.items()
        ],
        "standard_label": _seasons_label(standard),
        "model": model,
        "serving": serving,
        # at a clock, when a what-if as of then cannot run the version serving then: which one it runs
        "what_if_differs": at is not None and model is not None and at.what_if != model,
        "what_if": at.what_if if at else None,
        "what_if_why": at.serving_skipped if at else "",
        "fallback": model is not None and (serving is None or serving.pk != model.pk),
        "feature_counts": _feature_counts(model),
        "catalogue": catalogue,
        "calibration": [
            {
                **group,
                "chart": charts.scatter_chart(
                    points=[
                        (
                            b["predicted"],
                            b["observed"],
                            f"{b['bin']}: predicted {b['predicted']:.2f}, observed {b['observed']:.2f} ({b['n']} cases)",
                        )
                        for b in group["bins"]
                    ],
                    title=f"Calibration of the {group['target']} probability",
                    desc="Each dot is a probability bin; on the dashed diagonal the predicted probability "
                    "matches how often the outcome happened. The table lists the bins.",
                    x_label="Predicted probability",
                    y_label="Observed",
                    max_value=1.0,
                    connect=True,
                    height=320,
                ),
            }
            for group in calibration
        ],
    }
    response = render(request, "analytics/model.html", context)
    if context["fallback"]:  # a passing state: never kept by the page cache for an hour
        patch_cache_control(response, no_store=True)
    return response


def _seasons_phrase(seasons) -> str:
    """What a run covers in words: "season 2024" for one season, "seasons 2022–2025" for several."""
    label = _seasons_label(seasons)
    return f"season {label}" if len(set(seasons or [])) == 1 else f"seasons {label}"


def _seasons_label(seasons) -> str:
    """[2022, 2023, 2024, 2025] -> "2022–2025"; gaps are listed ("2022, 2024")."""
    seasons = sorted(int(s) for s in seasons or [])
    if not seasons:
        return ""
    if seasons == list(range(seasons[0], seasons[-1] + 1)) and len(seasons) > 1:
        return f"{seasons[0]}–{seasons[-1]}"
    return ", ".join(str(s) for s in seasons)


def _feature_counts(model) -> list[dict]:
    """How many features the model uses, per stage: `features` is {stage: [names]} (a model per
    stage), or a flat list in older versions -> [{label, count}]."""
    features = getattr(model, "features", None)
    if isinstance(features, dict):
        labels = {"pre": "before qualifying", "post": "after qualifying"}
        order = sorted(features, key=lambda stage: (stage != "pre", stage))
        return [{"label": labels.get(stage, stage), "count": len(features[stage] or [])} for stage in order]
    if isinstance(features, list):
        return [{"label": "", "count": len(features)}]
    return []


_METRIC_KEYS = (*RANK_METRICS, "brier_win")


_PREDICTOR_LABELS = {
    "model": "Pitwall model",
    "grid": "Baseline: grid order",
    "championship": "Baseline: championship order",
    "previous_race": "Baseline: previous race's order",
}
# The ablation model's inputs differ per stage (no grid before qualifying): its label is built
# from `ABLATION_FEATURES`, so it names what that stage's small model was fitted on.
_ABLATION_FEATURE_NAMES = {
    "grid": "grid",
    "driver_championship_position": "championship position",
    "driver_form_5": "form",
}


def _ablation_label(stage: str) -> str:
    names = [_ABLATION_FEATURE_NAMES.get(f, f) for f in ABLATION_FEATURES.get(stage, [])]
    return f"Small model ({', '.join(names)} only)"


def _variants(block, prefix: str = "", *, stage: str) -> list[dict]:
    """Find every metrics dict (one with an `mae`) in a backtest block of `stage` -> [{name, metrics}]."""
    if not isinstance(block, dict):
        return []
    if "mae" in block:
        key = prefix or "model"
        return [
            {
                "name": _ablation_label(stage) if key == "ablation" else _PREDICTOR_LABELS.get(key, key),
                "metrics": {k: block.get(k) for k in _METRIC_KEYS},
                "races": block.get("races"),
            }
        ]
    out = []
    for key, value in block.items():
        out.extend(_variants(value, f"{prefix} / {key}" if prefix else str(key), stage=stage))
    return out


def _season_rows(seasons, *, stage: str) -> list[dict]:
    """Backtest per-season block -> [{season, variants: [{name, metrics}]}] in season order."""
    if not isinstance(seasons, dict):
        return []
    return [
        {"season": k, "variants": _variants(v, stage=stage)}
        for k, v in sorted(seasons.items(), key=lambda kv: str(kv[0]))
    ]


def _calibration_groups(results: dict) -> list[dict]:
    """Reliability tables from a backtest report (predictions.ml.backtest.backtest_report): the
    model's summary holds `calibration_<target>: [{bin, n, predicted, observed}]`
    (predictions.ml.metrics.summarise)."""
    found: dict[str, list] = {}
    overall = results.get("overall")
    model_block = overall.get("model") if isinstance(overall, dict) else None
    if isinstance(model_block, dict):
        for key, value in model_block.items():
            if key.startswith("calibration_") and isinstance(value, list):
                found[key.removeprefix("calibration_")] = value
    groups = []
    for target, bins in found.items():
        rows = []
        for b in bins:
            if not isinstance(b, dict):
                continue
            pred, obs = b.get("predicted"), b.get("observed")
            if pred is None or obs is None:
                continue
            rows.append(
                {
                    "bin": b.get("bin", ""),
                    "n": b.get("n", ""),
                    "predicted": float(pred),
                    "observed": float(obs),
                }
            )
        if rows:
            groups.append({"target": target, "bins": rows})
    return groups


@read_only_page
@_page_cache("CACHE_TTL_STANDINGS", reads=("season", "as_of"))
def championship(request: HttpRequest) -> HttpResponse:
    # ?as_of= (the home page's clock, same parser and 404s): the title fight as it stood then — the
    # seasons with a race whose results were known by then, the standings after those rounds, the
    # rounds not started (or being run) by then simulated with the model serving then from what was
    # known then (`championship_simulate(clock=)`), cached per clock
    as_of = _as_of_param(request)
    seasons = selectors.season_list(as_of=as_of)
    season = _season_choice(request, seasons)
    retry_after, model_down, no_model_then = None, False, None
    try:
        simulation = _championship_simulation(request, season, as_of)
    except NoModelAtClock as exc:  # a fact of the past: said, and kept like any page as of a clock
        simulation, no_model_then = None, str(exc)
    except ModelUnavailable as exc:  # none trained yet, or every artifact missing / corrupt
        logger.info("no championship simulation for %s: %s", season, exc)
        simulation, model_down = None, True
    except SeasonWithoutRaces as exc:  # the list holds seasons with standings: a race removed since
        logger.info("no championship simulation for %s: %s", season, exc)
        simulation = None
    except Throttled as exc:
        simulation, retry_after = None, max(1, round(exc.wait or 1))
    context = {
        "as_of": as_of,
        "today": _without_clock(request),
        "seasons": seasons,
        "season": season,
        "simulation": simulation,
        "retry_after": retry_after,
        "model_down": model_down,
        "no_model_then": no_model_then,
    }
    drivers = simulation.get("drivers") if isinstance(simulation, dict) else None
    if drivers and not simulation.get("remaining_races"):
        # A completed season is not simulated (championship_simulate: no remaining races, n_sims 0,
        # model_version None): its "title probabilities" are just 1 for the champion and 0 for the
        # rest. Shown as what it is, the final standings with the champions named and a points
        # chart, never as probability bars of 100 % / 0 %.
        context["decided"] = True
        context["champion"] = next((d for d in drivers if d["title_probability"] == 1), None)
        teams = simulation.get("teams") or []
        context["team_champion"] = next((t for t in teams if t["title_probability"] == 1), None)
        context["chart"] = charts.bar_chart(
            items=[(d["driver_name"], float(d["current_points"])) for d in drivers[:10]],
            title=f"{season} drivers' championship: final points",
            desc=(
                f"Final points of the top ten in the stored {season} standings; the season is over, "
                "so nothing is simulated. The table lists every driver."
            ),
            unit=" pts",
            highlight=context["champion"]["driver_name"] if context["champion"] else None,
        )
    elif drivers:
        context["chart"] = charts.bar_chart(
            items=[(d["driver_name"], round(100 * float(d["title_probability"]), 1)) for d in drivers[:10]],
            title=f"{season} drivers' title probabilities",
            desc="Share of simulated seasons each driver won the title; the table lists every driver.",
            unit="%",
            value_labels=[charts.probability_percent(d["title_probability"]) for d in drivers[:10]],
        )
    response = render(request, "analytics/championship.html", context)
    if retry_after is not None:
        response.status_code = 429
        response["Retry-After"] = str(retry_after)
        patch_cache_control(response, no_store=True)
    elif model_down:  # the API's 503 model_unavailable; a passing state, never page-cached
        response.status_code = 503
        patch_cache_control(response, no_store=True)
    return response


def _championship_simulation(request: HttpRequest, season: int, as_of=None) -> dict:
    """The season's simulation from the cache entry the API's championship endpoint uses (same key,
    TTL and invalidation), so the page and the API share one computation per season and model, and a
    page URL with extra query parameters does not simulate again. A simulation (a season with rounds
    left) charges the client's 'expensive' bucket, as the API's does (Throttled when it is spent); a
    completed season's stored standings are never charged. `as_of`: a past clock — the simulation as
    of then, in an entry of its own per clock (`championship_cache_key(clock=)`)."""

    def compute():
        return championship_simulate(
            season=season, clock=as_of, before_simulating=lambda: expensive_charge(request)
        )

    entry = f1cache.cached_json(
        key=championship_cache_key(season=season, clock=as_of),
        ttl=settings.CACHE_TTL_PREDICTIONS,
        tier="championship",
        compute=compute,
    )
    return json.loads(entry.body)


@read_only_page
@_page_cache("CACHE_TTL_DYNAMIC", reads=("as_of",), reads_prefix="grid_")
def what_if(request: HttpRequest, race_id: str) -> HttpResponse:
    as_of = _as_of_param(request)  # a race page as of a clock links here with it (same 404s)
    race = _race(race_id)
    unavailable = race_prediction_unavailable(race=race)
    if as_of is not None and not unavailable:
        closed = engine.what_if_unavailable_at(race=race, as_of=as_of)
        if closed:
            return _what_if_closed_at_clock(request, race, as_of, closed)
    entrants, prefill = ([], "") if unavailable else _what_if_entrants(race, as_of)
    grid, errors = _parse_grid(request, entrants)
    result, retry_after, model_down, busy_retry_after = None, None, False, None
    if grid and not errors:
        retry_after = _what_if_throttled(request)
        if retry_after is not None:
            errors.append(
                "Too many what-if predictions from you in a short time (they run the models each "
                f"time): try again in {retry_after} s."
            )
        else:
            try:
                result, error, model_down = _what_if_predict(race, grid, as_of)
            except WhatIfBusy as exc:  # every build slot taken: like the throttle, come back shortly
                result, error, model_down = None, str(exc), True
                busy_retry_after = exc.retry_after
            if error:
                errors.append(error)
    context = {
        "race": race,
        "entrants": entrants,
        "prefill": prefill,
        "unavailable": unavailable,
        "grid": grid,
        "errors": errors,
        "result": result,
        "as_of": as_of,
        "today": reverse("analytics:what_if", args=[race.slug]),
    }
    response = _partial(request, "analytics/what_if.html", "analytics/partials/what_if_result.html", context)
    if errors:
        # Not kept by _page_cache (an HTMX swap gets its errors with a 200): every `grid_…` name is
        # in the key, so each junk one (`?grid_nobody=1`) would be another copy of an answer that
        # costs no model run to render again. A computed grid is kept (the 'expensive' budget
        # bounds those), so asking for it again neither runs the model nor spends the budget.
        response.page_cacheable = False
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
        patch_cache_control(response, no_store=True)  # never kept by _page_cache either
        if not request.htmx:  # htmx swaps only 2xx answers: it gets the message with a 200
            response.status_code = 429
    elif errors and not request.htmx:  # htmx swaps only 2xx answers; a plain form post gets a 422
        # ... or a 503 when the grid was fine but no model loads (the API's model_unavailable)
        response.status_code = 503 if model_down else 422
        if model_down:
            patch_cache_control(response, no_store=True)
    if busy_retry_after is not None:
        response["Retry-After"] = str(busy_retry_after)
        patch_cache_control(response, no_store=True)
    return response


def _what_if_closed_at_clock(request: HttpRequest, race: Race, as_of, reason: str) -> HttpResponse:
    """No what-if as of this past clock (`reason`: the race had started by then, or no model had
    been trained by then — `predictions.selectors.what_if_unavailable_at`): the page says why and
    links to today's what-if and to the race as of the clock; no model runs and no 'expensive'
    budget is spent. A URL with a grid is answered the same way but not kept (every `grid_…` name is
    in the page-cache key)."""
    context = {
        "race": race,
        "as_of": as_of,
        "closed": reason,
        "today": reverse("analytics:what_if", args=[race.slug]),
    }
    response = render(request, "analytics/what_if.html", context)
    if any(name.startswith("grid_") for name in request.GET):
        response.page_cacheable = False
    return response


def _what_if_throttled(request: HttpRequest) -> int | None:
    """Charge the client's 'expensive' bucket (API_THROTTLE_EXPENSIVE), the one the API's what-if
    uses, so the page is no way around it; the seconds to wait when it is spent, else None. Only a
    computed answer is charged: a cached page never reaches this."""
    try:
        expensive_charge(request)
    except Throttled as exc:
        return max(1, round(exc.wait or 1))
    return None


def _what_if_predict(race: Race, grid: list[str], as_of=None) -> tuple[list[dict] | None, str | None, bool]:
    """Run the engine's what-if (as of the past clock `as_of`, if any): (result, error message,
    whether no model loads). Bad input and a missing model come back as a message, not a 500;
    WhatIfBusy (every build slot taken) is raised for the view, which adds Retry-After."""
    try:
        return prediction_what_if(race=race, grid=grid, as_of=as_of), None, False
    except NoModelAtClock as exc:  # checked before the form; a version deleted since then
        return None, f"No what-if as of then: {exc}.", False
    except ModelUnavailable:
        # Not "none trained yet": versions may be registered whose files are missing or corrupt.
        return (
            None,
            "No prediction model can be loaded right now (none trained yet, or its files are missing), "
            "so what-if predictions are off. Try again later.",
            True,
        )
    except PredictionInputError as exc:  # unknown driver, duplicates, no team
        return None, str(exc), False


def _what_if_entrants(race: Race, as_of=None) -> tuple[list[dict], str]:
    """The race's entrants (the engine's field, as known at the clock `as_of`) in the pre-filled
    order, and which order that is."""
    try:
        return selectors.what_if_grid_prefill(race=race, as_of=as_of)
    except PredictionInputError:  # no entry information and no earlier race with results
        return [], ""


def _parse_grid(request: HttpRequest, entrants: list[dict]) -> tuple[list[str], list[str]]:
    """`?grid_<ref>=<slot>` for every entrant -> driver refs in grid order, with clear errors."""
    if not any(k.startswith("grid_") for k in request.GET):
        return [], []
    errors, slots = [], {}
    for e in entrants:
        given = request.GET.getlist(f"grid_{e['ref']}")
        if len(given) > 1:  # the last would win silently: a double-submitted or hand-edited URL
            errors.append(f"{e['name']}: grid slot is given {len(given)} times; give it once.")
            continue
        raw = given[0] if given else ""
        if not raw.strip():  # an emptied or left-out field: say so, not "must be a number (got '')"
            errors.append(f"{e['name']}: grid slot is missing.")
            continue
        # Only the canonical spelling (as `?season=`): int() also read `+22`, `2_2`, ` 22 ` and
        # non-ASCII digits, each an alias that ran the model, spent the 'expensive' budget and was
        # cached as another page. A plain number out of range (`-3`, 20 digits) is a number: it
        # gets the range, as 0 does (QA: "must be a number (got '-3')").
        if not _PLAIN_INTEGER.fullmatch(raw):
            errors.append(f"{e['name']}: grid slot must be a number (got {raw!r}).")
            continue
        # never int() on the rest: a sign or ten digits is out of range anyway, and int() refuses
        # a string of more than 4,300 digits (ValueError)
        slot = int(raw) if _CANONICAL_INT.fullmatch(raw) else None
        if slot is None or not 1 <= slot <= len(entrants):
            errors.append(f"{e['name']}: grid slot must be between 1 and {len(entrants)}.")
            continue
        slots[e["ref"]] = slot
    # A `grid_…` name that is no entrant's (a hand-edited or stale URL) is an error, not ignored:
    # the page cache keys every `grid_…` name, so a valid grid plus `grid_nobody=1` ran the model
    # and was kept as another copy of the same answer, one per junk name.
    known = {f"grid_{e['ref']}" for e in entrants}
    unknown = sorted(
        name[len("grid_") :] for name in request.GET if name.startswith("grid_") and name not in known
    )
    if entrants and unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        errors.append(f"Not a driver entered in this race: {shown}.")
    taken: dict[int, list[str]] = {}
    for ref, slot in slots.items():
        taken.setdefault(slot, []).append(ref)
    names = {e["ref"]: e["name"] for e in entrants}  # the other messages name drivers too
    for slot, refs in sorted(taken.items()):
        if len(refs) > 1:
            who = ", ".join(names[r] for r in refs)
            errors.append(f"Grid slot {slot} is given to more than one driver ({who}).")
    for e in entrants:
        e["chosen"] = slots.get(e["ref"], e["slot"])
    return [ref for ref, _ in sorted(slots.items(), key=lambda kv: kv[1])], errors


def _admin_url(name: str) -> str | None:
    """Admin changelist URL, or None while that model is not registered in admin."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


# --- staff -----------------------------------------------------------------------------------


@staff_member_required
@read_only_page
def data_freshness(request: HttpRequest) -> HttpResponse:
    from ingestion.api.selectors import jobs_status
    from ingestion.services.liveness import EAGER_BEAT, EAGER_WORKER

    pipeline = jobs_status()  # first: it closes dead job runs, which the page's job runs then show closed
    data = selectors.data_freshness_get()
    context = {
        "data": data,
        "pipeline": pipeline,
        "eager_worker": EAGER_WORKER,
        "eager_beat": EAGER_BEAT,
        "failures": [{"run": run, **_sync_error_summary(run.errors)} for run in data["failures"]],
        "now": timezone.now(),
        "sync_admin_url": _admin_url("admin:ingestion_syncrun_changelist"),
        "job_admin_url": _admin_url("admin:ingestion_jobrun_changelist"),
    }
    return render(request, "analytics/freshness.html", context)


def _sync_error_summary(errors) -> dict:
    """SyncRun.errors (a list of dicts: {message, url?, fatal?}, {race, message}, {level, message},
    {kept_manual: {...}}) -> {message: one readable line (the fatal error if any, else the first),
    more: how many others}."""
    if not errors:
        return {"message": "", "more": 0}
    if not isinstance(errors, list):
        errors = [errors]
    main = next((e for e in errors if isinstance(e, dict) and e.get("fatal")), errors[0])
    return {"message": _sync_error_text(main), "more": len(errors) - 1}


def _sync_error_text(error) -> str:
    if not isinstance(error, dict):
        return str(error)
    if isinstance(error.get("kept_manual"), dict) and not error.get("message"):  # recorded before 2026-11-28
        kept = error["kept_manual"]
        return f"kept manual correction: {kept.get('model', 'row')} pk {kept.get('pk', '?')}"
    message = str(error.get("message") or "")
    if not message:
        return "; ".join(f"{k}: {v}" for k, v in error.items())
    race = error.get("race")
    if race and not message.startswith(str(race)):
        message = f"{race}: {message}"
    if error.get("level") == "warning":
        message = f"warning: {message}"
    return message
