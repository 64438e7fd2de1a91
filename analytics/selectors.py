"""Read side of the dashboards: analytics (cached dicts) and the page data the views render.

Frame layouts the metric functions in `analytics.services` consume:
- results: race_id, season, round, race_slug, race_name, circuit_id, circuit_ref, circuit_name,
  driver_id, team_id, grid, position (NaN unless classified), position_order, points, status,
  position_text, shared_car_index (0: the row of a car's starter; 1..: a 1950s co-driver's row)
- quali: race_id, season, round, race_slug, driver_id, team_id, position, q1_ms, q2_ms, q3_ms
- pits: race_id, driver_id, stop, lap, milliseconds
- sprints: race_id, driver_id, team_id, points (sprint results: their points count in the standings)
- wet: {race_id: is_wet} for races whose observed weather is known

Cache keys follow the product guide's pattern (`f1:analytics:driver:{ref}:{season}`, ...); values are
JSON-serialisable dicts so the API can return them as they are.

A past clock (`as_of`, the pages' `?as_of=`) cuts every frame to the races whose results were known
by then (`ingestion.selectors.races_with_results_known_by`, the race lists' rule: a race being run
at the clock is not in them) in the functions that query; the
metric functions stay pure and never see the clock. Such an entry's key ends in `:at:{clock}`.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, Subquery
from django.db.models.functions import Lower

from analytics.services import driver_metrics, team_metrics
from analytics.services.common import CIRCUIT_DIFFICULTY_SEASONS, EXCLUDED_POSITION_TEXTS, championship_trend
from f1site.clock import clock_display, clock_to_text
from f1site.errors import NotFound
from ingestion.models import (
    Driver,
    DriverStanding,
    JobRun,
    PitStop,
    PracticeResult,
    QualifyingResult,
    Race,
    RaceResult,
    RaceWeather,
    Season,
    SprintResult,
    SyncRun,
    Team,
    TeamStanding,
)
from ingestion.selectors import PRACTICE_SESSIONS, races_with_results_known_by, session_results_known

_RESULT_FIELDS = {
    "race_id": "race_id",
    "season": "race__season_id",
    "round": "race__round",
    "race_slug": "race__slug",
    "race_name": "race__name",
    "circuit_id": "race__circuit_id",
    "circuit_ref": "race__circuit__ref",
    "circuit_name": "race__circuit__name",
    "driver_id": "driver_id",
    "team_id": "team_id",
    "grid": "grid",
    "position": "position",
    "position_order": "position_order",
    "points": "points",
    "status": "status__status",
    "position_text": "position_text",
    "shared_car_index": "shared_car_index",
}
_QUALI_FIELDS = {
    "race_id": "race_id",
    "season": "race__season_id",
    "round": "race__round",
    "race_slug": "race__slug",
    "driver_id": "driver_id",
    "team_id": "team_id",
    "position": "position",
    "q1_ms": "q1_ms",
    "q2_ms": "q2_ms",
    "q3_ms": "q3_ms",
}


def _frame(qs, fields: dict[str, str]) -> pd.DataFrame:
    rows = list(qs.values_list(*fields.values()))
    frame = pd.DataFrame(rows, columns=list(fields.keys()))
    for col in ("grid", "position", "q1_ms", "q2_ms", "q3_ms", "milliseconds"):
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float")
    if "points" in frame:
        frame["points"] = frame["points"].astype(float)
    return frame


def results_frame(*where: Q, **filters) -> pd.DataFrame:
    return _frame(RaceResult.objects.filter(*where, **filters), _RESULT_FIELDS)


def quali_frame(*where: Q, **filters) -> pd.DataFrame:
    return _frame(QualifyingResult.objects.filter(*where, **filters), _QUALI_FIELDS)


def pits_frame(*where: Q, **filters) -> pd.DataFrame:
    return _frame(
        PitStop.objects.filter(*where, **filters),
        {
            "race_id": "race_id",
            "driver_id": "driver_id",
            "stop": "stop",
            "lap": "lap",
            "milliseconds": "milliseconds",
        },
    )


def sprints_frame(*where: Q, **filters) -> pd.DataFrame:
    return _frame(
        SprintResult.objects.filter(*where, **filters),
        {"race_id": "race_id", "driver_id": "driver_id", "team_id": "team_id", "points": "points"},
    )


def wet_map(*where: Q, **filters) -> dict[int, bool]:
    return dict(
        RaceWeather.objects.filter(*where, is_wet__isnull=False, **filters).values_list("race_id", "is_wet")
    )


def _ttl() -> int:
    return settings.CACHE_TTL_STANDINGS


def _known(as_of: datetime | None, field: str = "race") -> Q:
    """Rows (by their `field`, a Race foreign key) of races whose results were known by the clock
    `as_of` (`races_with_results_known_by`: the home and race pages' rule — started is not enough, a
    race being run then had no results yet); everything without a clock."""
    if as_of is None:
        return Q()
    return Q(**{f"{field}__in": races_with_results_known_by(as_of=as_of)})


def _clock_key(as_of: datetime | None) -> str:
    """The cache key's clock part: '' today, `:at:<clock>` (one spelling per moment) at a clock."""
    if as_of is None:
        return ""

    return f":at:{clock_to_text(clock=as_of)}"


# --- analytics -------------------------------------------------------------------------------


def driver_seasons(*, driver: Driver, as_of: datetime | None = None) -> list[int]:
    """The seasons the driver has a result in, newest first; at a clock `as_of`, of races with
    results known then."""
    return sorted(
        RaceResult.objects.filter(_known(as_of), driver=driver)
        .values_list("race__season_id", flat=True)
        .order_by()
        .distinct(),
        reverse=True,
    )


def season_has_results(*, season: int, as_of: datetime | None = None) -> bool:
    """Whether any race of `season` has results (someone raced; at a clock, a race with results known then):
    a driver's or team's page for a season without them says they did not race, not that the season
    has no results."""
    return RaceResult.objects.filter(_known(as_of), race__season_id=season).exists()


def team_seasons(*, team: Team, as_of: datetime | None = None) -> list[int]:
    return sorted(
        RaceResult.objects.filter(_known(as_of), team=team)
        .values_list("race__season_id", flat=True)
        .order_by()
        .distinct(),
        reverse=True,
    )


def driver_analytics_get(*, driver: Driver, season: int | None = None, as_of: datetime | None = None) -> dict:
    """Every driver metric for one season (default: the driver's latest), plus career-wide ones.

    Season metrics: qualifying gap to team-mate, consistency, overtaking, pit-stop proxy, form,
    championship trend. Career metrics (more data needed): wet-weather rating, circuit history.
    `as_of`: a past clock — the season and career as they stood then: every frame (results,
    qualifying, pit stops, sprints, weather, the circuits' field, standings) holds only races whose
    results were known by then (`races_with_results_known_by`), so no later result, round or
    championship position shows, nor one of a race still being run.
    """
    known = _known(as_of)
    if season is None:
        season = RaceResult.objects.filter(known, driver=driver).aggregate(s=Max("race__season_id"))["s"]
    key = f"f1:analytics:driver:{driver.ref}:{season}{_clock_key(as_of)}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    # `id` as every other object of the API names a driver; `ref` (the same value) kept, deprecated
    who = {"ref": driver.ref, "id": driver.ref, "name": driver.full_name, "code": driver.code}
    data = {"driver": who, "season": season}
    # no race of this driver in that season (or none at all): nothing to measure
    if season is None or not RaceResult.objects.filter(known, driver=driver, race__season_id=season).exists():
        data["available"] = False
        return data
    on_track = _known(as_of, "pk")  # the races themselves, results known by the clock
    season_races = Race.objects.filter(on_track, season_id=season, results__driver=driver)
    results = results_frame(race__in=season_races)
    quali = quali_frame(race__in=season_races)
    pits = pits_frame(race__in=season_races)
    field = results_frame(
        known,
        race__season_id__gte=season - CIRCUIT_DIFFICULTY_SEASONS + 1,
        race__season_id__lte=season,
        race__circuit__in=season_races.values("circuit"),
    )
    career_races = Race.objects.filter(on_track, results__driver=driver)
    career = results_frame(race__in=career_races)
    standings = pd.DataFrame(
        list(
            DriverStanding.objects.filter(known, race__season_id=season, driver=driver).values_list(
                "race__round", "position", "points", "position_text"
            )
        ),
        columns=["round", "position", "points", "position_text"],
    )
    data.update(
        available=True,
        qualifying_gap_to_teammate=_with_teammates(
            driver_metrics.qualifying_gap_to_teammate(quali, driver_id=driver.pk)
        ),
        race_pace_consistency=driver_metrics.race_pace_consistency(results, driver_id=driver.pk),
        overtaking=driver_metrics.overtaking_score(results, field, driver_id=driver.pk),
        wet_weather=driver_metrics.wet_weather_rating(
            career, wet_map(race__in=career_races), driver_id=driver.pk
        ),
        pit_stops=driver_metrics.pit_stop_proxy(results, pits, driver_id=driver.pk),
        circuits=driver_metrics.circuit_performance(career, driver_id=driver.pk),
        form=driver_metrics.season_form(
            results, sprints_frame(known, race__season_id=season, driver=driver), driver_id=driver.pk
        ),
        championship=championship_trend(
            standings.astype({"round": float, "position": float, "points": float})
        ),
    )
    cache.set(key, data, _ttl())
    return data


def _with_teammates(gap: dict) -> dict:
    """`qualifying_gap_to_teammate` with each race's team-mate as the API names drivers elsewhere,
    `teammate` {id, code, name}, beside the deprecated `teammate_id` (the internal primary key, which
    no endpoint takes). One query for the season's team-mates, whatever the number of races."""
    ids = {row["teammate_id"] for row in gap["per_race"]}
    drivers = Driver.objects.only("ref", "code", "given_name", "family_name").in_bulk(ids) if ids else {}
    per_race = []
    for row in gap["per_race"]:
        mate = drivers[row["teammate_id"]]
        named = {}
        for key, value in row.items():
            named[key] = value
            if key == "teammate_id":
                named["teammate"] = {"id": mate.ref, "code": mate.code, "name": mate.full_name}
        per_race.append(named)
    return {**gap, "per_race": per_race}


def team_analytics_get(*, team: Team, season: int | None = None, as_of: datetime | None = None) -> dict:
    """Every team metric for one season (default: the team's latest). `as_of`: a past clock — the
    season as it stood then, every frame and the standings cut to the races with results known by then (as
    `driver_analytics_get`)."""
    known = _known(as_of)
    if season is None:
        season = RaceResult.objects.filter(known, team=team).aggregate(s=Max("race__season_id"))["s"]
    key = f"f1:analytics:team:{team.ref}:{season}{_clock_key(as_of)}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    data = {"team": {"ref": team.ref, "id": team.ref, "name": team.name}, "season": season}  # as the driver's
    # no race of this team in that season (or none at all): nothing to measure — the metrics below
    # expect at least one result (an empty season's frames have no columns: a KeyError, a 500)
    if season is None or not RaceResult.objects.filter(known, team=team, race__season_id=season).exists():
        data["available"] = False
        return data
    results = results_frame(known, race__season_id=season)
    quali = quali_frame(known, race__season_id=season)
    pits = pits_frame(known, race__season_id=season)
    ranking = team_metrics.qualifying_pace_ranking(quali)
    names = dict(Team.objects.filter(pk__in=[r["team_id"] for r in ranking]).values_list("pk", "ref"))
    for row in ranking:
        row["team"] = names.get(row["team_id"])
    standings = pd.DataFrame(
        list(
            TeamStanding.objects.filter(known, race__season_id=season, team=team).values_list(
                "race__round", "position", "points", "position_text"
            )
        ),
        columns=["round", "position", "points", "position_text"],
    )
    data.update(
        available=True,
        qualifying_pace=next((r for r in ranking if r["team_id"] == team.pk), None),
        qualifying_pace_ranking=ranking,
        strategy=team_metrics.strategy_effectiveness(results, pits, team_id=team.pk),
        pit_stops=team_metrics.pit_stop_efficiency(pits, results, team_id=team.pk),
        reliability=team_metrics.reliability(results, team_id=team.pk),
        development=team_metrics.development_trajectory(quali, team_id=team.pk),
        championship=championship_trend(
            standings.astype({"round": float, "position": float, "points": float})
        ),
    )
    cache.set(key, data, _ttl())
    return data


def team_ranking_named(*, ranking: list[dict]) -> list[dict]:
    """The rows of `team_analytics_get`'s `qualifying_pace_ranking` (whose `team` is the ref, as the
    API shows it) with each team's display name under `name` (the ref for a team no longer stored)."""
    names = dict(Team.objects.filter(pk__in=[r["team_id"] for r in ranking]).values_list("pk", "name"))
    return [{**r, "name": names.get(r["team_id"], r["team"])} for r in ranking]


# --- page data -------------------------------------------------------------------------------


def _by_ref(model: type[Driver] | type[Team], *, ref: str, any_case: bool):
    """The driver / team whose ref is `ref`; with `any_case`, else the one whose ref is `ref` in
    another case (`Hamilton` -> `hamilton`, `CANNOC` -> `Cannoc`: a few stored refs have capitals,
    so the stored spelling is not always lower case). ASCII letters only, as race ids fold
    (`race_id_canonical`); None when no ref, or more than one, matches. One query, two on a miss."""
    found = model.objects.filter(ref=ref).first()
    if found is not None or not any_case or not ref.isascii():
        return found
    matches = list(model.objects.annotate(ref_folded=Lower("ref")).filter(ref_folded=ref.lower())[:2])
    return matches[0] if len(matches) == 1 else None


def driver_get(*, ref: str, any_case: bool = False) -> Driver:
    """The driver `ref` (the stored spelling, case-sensitive, as the API keys its answers by it);
    `any_case`: typed in any case too (the pages, which send a visitor to the stored spelling's URL)."""
    driver = _by_ref(Driver, ref=ref, any_case=any_case)
    if driver is None:
        raise NotFound(f"No driver {ref!r}", what="driver")
    return driver


def team_get(*, ref: str, any_case: bool = False) -> Team:
    """The team `ref`, as `driver_get`."""
    team = _by_ref(Team, ref=ref, any_case=any_case)
    if team is None:
        raise NotFound(f"No team {ref!r}", what="team")
    return team


def _results_qs():
    return RaceResult.objects.select_related("race", "race__circuit", "driver", "team", "status")


def _with_sprint_points(qs):
    """Each result row with `sprint_points`: the driver's points in that weekend's sprint (None
    without a sprint result), in the same query."""
    sprint = SprintResult.objects.filter(race=OuterRef("race"), driver=OuterRef("driver")).values("points")
    return qs.annotate(sprint_points=Subquery(sprint[:1]))


def driver_results_list(*, driver: Driver, season: int, as_of: datetime | None = None) -> list[RaceResult]:
    """The driver's results of `season` by round; at a clock, of the races with results known then."""
    return list(
        _with_sprint_points(
            _results_qs().filter(_known(as_of), driver=driver, race__season_id=season)
        ).order_by("race__round")
    )


def team_results_list(*, team: Team, season: int, as_of: datetime | None = None) -> list[RaceResult]:
    """The team's results of `season` by round; at a clock, of the races with results known then."""
    return list(
        _with_sprint_points(_results_qs().filter(_known(as_of), team=team, race__season_id=season)).order_by(
            "race__round", "position_order"
        )
    )


def team_drivers_list(*, team: Team, season: int, as_of: datetime | None = None) -> list[Driver]:
    return list(
        Driver.objects.filter(
            pk__in=RaceResult.objects.filter(_known(as_of), team=team, race__season_id=season).values(
                "driver"
            )
        )
    )


def driver_practice_list(*, driver: Driver, as_of: datetime | None = None) -> list[PracticeResult]:
    """The driver's practice sessions (newest race first): what a driver without a race start (a
    practice-only FP1 driver) has driven. At a clock, only the sessions whose results were known by
    then (`ingestion.selectors.session_results_known`: not one being held; filtered in Python: the list
    is a few rows, one query)."""
    rows = list(
        PracticeResult.objects.filter(driver=driver)
        .select_related("race", "team")
        .order_by("-race__date", "session")
    )
    if as_of is None:
        return rows

    return [
        p for p in rows if PRACTICE_SESSIONS.get(p.session) in session_results_known(race=p.race, clock=as_of)
    ]


def drivers_by_number(*, race: Race, numbers: list[int]) -> dict[int, Driver]:
    """Car number -> driver for a live session: this weekend's entries, else permanent numbers."""
    if not numbers:
        return {}
    out = {
        q.number: q.driver
        for q in QualifyingResult.objects.filter(race=race, number__in=numbers).select_related("driver")
    }
    missing = [n for n in numbers if n not in out]
    if missing:
        for d in Driver.objects.filter(permanent_number__in=missing).order_by("-date_of_birth"):
            out.setdefault(d.permanent_number, d)
    return out


def race_results_list(*, race: Race | None) -> list[RaceResult]:
    if race is None:
        return []
    return list(_results_qs().filter(race=race).order_by("position_order", "shared_car_index"))


def race_sprint_list(*, race: Race) -> list[SprintResult]:
    """The weekend's sprint classification (empty without a sprint), in one query."""
    return list(
        SprintResult.objects.filter(race=race)
        .select_related("driver", "team", "status")
        .order_by("position_order")
    )


def race_qualifying_list(*, race: Race) -> list[QualifyingResult]:
    return list(
        QualifyingResult.objects.filter(race=race).select_related("driver", "team").order_by("position")
    )


def race_weather_get(*, race: Race) -> RaceWeather | None:
    return RaceWeather.objects.filter(race=race).first()


def race_forecast_get(*, race: Race, as_of: datetime | None = None):
    """The latest race-session forecast fetched for `race`, or None. `as_of`: a past clock — the
    latest issued (`fetched_at`) before it, as `race_forecasts_map` reads it for the home cards."""
    forecasts = race.forecasts.filter(session="race")
    if as_of is not None:
        forecasts = forecasts.filter(fetched_at__lt=as_of)
    return forecasts.order_by("-fetched_at", "valid_at").first()


def race_forecasts_map(*, races: list[Race], as_of: datetime | None = None) -> dict[int, object]:
    """race id -> its latest race-session forecast (one query for all races). `as_of`: a past
    clock — the latest forecast issued (`fetched_at`) before it, as the features read the weather
    at that clock (`features.clock`), never one fetched since."""
    from ingestion.models import WeatherForecast

    forecasts = WeatherForecast.objects.filter(race__in=races, session="race")
    if as_of is not None:
        forecasts = forecasts.filter(fetched_at__lt=as_of)
    out: dict[int, object] = {}
    for f in forecasts.order_by("race_id", "-fetched_at", "valid_at"):
        out.setdefault(f.race_id, f)
    return out


def season_list(*, as_of: datetime | None = None) -> list[int]:
    """Seasons that have championship standings, newest first; at a clock `as_of`, standings after a
    race whose results were known by then (`_known`)."""
    return list(
        Season.objects.filter(_known(as_of, "races__id"), races__driver_standings__isnull=False)
        .distinct()
        .order_by("-year")
        .values_list("year", flat=True)
    )


def calendar_seasons(*, as_of: datetime | None = None) -> list[int]:
    """Every season with a calendar, newest first; at a clock `as_of`, up to its year (when a later
    season's calendar came out is not stored, so none is taken to have been known)."""
    seasons = Season.objects.filter(races__isnull=False)
    if as_of is not None:
        seasons = seasons.filter(year__lte=as_of.year)
    return list(seasons.distinct().order_by("-year").values_list("year", flat=True))


def season_rounds(*, season: int, as_of: datetime | None = None) -> list[Race]:
    """Races of a season that have standings after them, in order; at a clock `as_of`, only races
    whose results were known by then (`_known`: the race lists' rule)."""
    return list(
        Race.objects.on_calendar()
        .filter(_known(as_of, "id"), season_id=season, driver_standings__isnull=False)
        .distinct()
        .order_by("round")
    )


def season_races(*, season: int) -> list[Race]:
    return list(
        Race.objects.on_calendar().filter(season_id=season).select_related("circuit").order_by("round")
    )


def standings_race_pick(
    *, season: int, round_number: int | None, as_of: datetime | None = None
) -> tuple[Race, list[Race]]:
    """Which race's standings to show, the one rule of the standings page (`standings_get`) and of
    the API's `standings` at a clock: among the season's rounds with standings (`season_rounds`; at a
    clock `as_of`, only races whose results were known by then), the last, or exactly `round_number` (never an
    earlier round in its place). Returns that race and the rounds; 1 query. NotFound when the season
    has no such round, or not the one asked for (worded as the page did without a clock, as the
    API did with one)."""
    rounds = season_rounds(season=season, as_of=as_of)
    at = "" if as_of is None else f" as of {clock_display(clock=as_of)}"
    if not rounds:
        message = f"No standings for season {season}{at}" if at else f"No standings for {season}"
        raise NotFound(message, what="standings")
    if round_number is None:
        return rounds[-1], rounds
    race = next((r for r in rounds if r.round == round_number), None)
    if race is None:
        latest = f": the latest then is round {rounds[-1].round}" if at else ""
        raise NotFound(f"No standings after round {round_number} of {season}{at}{latest}", what="standings")
    return race, rounds


def standings_get(*, season: int, round: int | None = None, as_of: datetime | None = None) -> dict:
    """Driver and team standings after `round` (default: the last round with standings); at a clock
    `as_of`, only rounds whose results were known by then: the default is the last of those, a later
    round NotFound (`standings_race_pick`). Cached per clock (`…:at:<clock>`)."""
    key = f"f1:standings:{season}:{round or 'last'}{_clock_key(as_of)}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    race, rounds = standings_race_pick(season=season, round_number=round, as_of=as_of)
    drivers = [
        {
            "position": s.position,
            "position_text": s.position_text,
            "driver_ref": s.driver.ref,
            "driver": s.driver.full_name,
            "code": s.driver.code,
            "points": float(s.points),
            "wins": s.wins,
        }
        for s in DriverStanding.objects.filter(race=race).select_related("driver").order_by("position")
    ]
    teams = [
        {
            "position": s.position,
            "position_text": s.position_text,
            "team_ref": s.team.ref,
            "team": s.team.name,
            "points": float(s.points),
            "wins": s.wins,
        }
        for s in TeamStanding.objects.filter(race=race).select_related("team").order_by("position")
    ]
    data = {
        "season": season,
        "round": race.round,
        "race_name": race.name,
        "race_slug": race.slug,
        "rounds": [{"round": r.round, "name": r.name} for r in rounds],
        "drivers": drivers,
        "teams": teams,
    }
    cache.set(key, data, _ttl())
    return data


def points_progression_get(*, season: int, top: int = 6, as_of: datetime | None = None) -> dict:
    """Cumulative points after each round for the season's top `top` drivers: the most points after
    the last round (a tie by championship position); at a clock `as_of`, the rounds whose results
    were known by then, leaders by the last of them.

    Picked by points, not by final position: an entry excluded from the championship (standings
    letter "D": Schumacher 1997, stored 26th) keeps the points he scored, and he led that title race
    78–77 before the last round; by position he was never among the leaders. Such a series has
    `excluded` true. Each series is labelled by the driver's family name (a code exists only for
    some drivers: "VIL", "Frentzen", "COU" side by side), with the given name's initial where two
    series share one ("M. Schumacher", "R. Schumacher"); `name` is the full name."""
    key = f"f1:standings:progression:{season}:{top}{_clock_key(as_of)}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    rows = list(
        DriverStanding.objects.filter(_known(as_of), race__season_id=season).values_list(
            "race__round",
            "driver__ref",
            "driver__given_name",
            "driver__family_name",
            "points",
            "position",
            "position_text",
        )
    )
    if not rows:
        return {"season": season, "rounds": [], "series": []}
    last_round = max(r[0] for r in rows)
    leaders = sorted(
        (r for r in rows if r[0] == last_round),
        key=lambda r: (-float(r[4]), r[5] is None, r[5] or 0),
    )[:top]
    family_names = [r[3] for r in leaders]
    series = []
    for _, ref, given_name, family_name, _, _, position_text in leaders:
        label = family_name
        if family_names.count(family_name) > 1:
            label = f"{given_name[:1]}. {family_name}" if given_name else family_name
        points = {r[0]: float(r[4]) for r in rows if r[1] == ref}
        series.append(
            {
                "ref": ref,
                "label": label,
                "name": f"{given_name} {family_name}".strip(),
                "excluded": position_text in EXCLUDED_POSITION_TEXTS,
                "points": points,
            }
        )
    labels = [s["label"] for s in series]
    for s in series:  # same initial and family name (none in the data so far): the full name
        if labels.count(s["label"]) > 1:
            s["label"] = s["name"]
    rounds = sorted({r[0] for r in rows})
    data = {
        "season": season,
        "rounds": rounds,
        "series": [{**s, "points": [s["points"].get(r) for r in rounds]} for s in series],
    }
    cache.set(key, data, _ttl())
    return data


def race_winners_map(*, races: list[Race], as_of: datetime | None = None) -> dict[int, list[RaceResult]]:
    """Race id -> its winners: one driver, or the drivers who shared the winning car (1950s: 1951
    France, Fagioli and Fangio; the calendar named only the first). At a clock `as_of`, only races
    with results known by then have one (`_known`). One query."""
    winners: dict[int, list[RaceResult]] = {}
    for r in (
        RaceResult.objects.filter(_known(as_of), race__in=races, position_order=1)
        .select_related("driver", "team")
        .order_by("race_id", "shared_car_index")
    ):
        winners.setdefault(r.race_id, []).append(r)
    return winners


def data_freshness_get() -> dict:
    """For staff: last sync per source, recent failures, data coverage and the last job runs. An
    OpenF1 / weather run whose process died is closed first, so it reads `interrupted`, not `running`."""
    from ingestion.services.sync_runs import sync_runs_stale_close_quietly

    sync_runs_stale_close_quietly()
    # one query; a wider window than the 20 listed so the four forecast runs a day cannot push the
    # daily Jolpica run out of "latest per source"
    recent = list(SyncRun.objects.order_by("-started_at")[:100])
    runs = recent[:20]
    latest_by_source: dict[tuple[str, str], SyncRun] = {}
    for run in recent:  # observed and forecast weather are one source, two kinds: show both
        latest_by_source.setdefault((run.source, (run.params or {}).get("kind", "")), run)
    failures = [r for r in runs if r.status in ("failed", "partial", "interrupted")]
    newest = runs[0] if runs else None
    key = f"f1:freshness:coverage:{newest.pk if newest else 0}:{newest.status if newest else ''}"
    stats = cache.get(key)
    if stats is None:  # recomputed when a sync starts or finishes; else reused for a minute
        stats = _coverage_stats()
        cache.set(key, stats, 60)
    return {
        "runs": runs,
        "latest_by_source": latest_by_source,
        "failures": failures,
        **stats,
        "job_runs": _job_runs(),
    }


def _coverage_stats() -> dict:
    # Exists() keeps these on the race_id index instead of joining every result row.
    with_results = Race.objects.filter(Exists(RaceResult.objects.filter(race=OuterRef("pk"))))
    coverage = with_results.aggregate(first_race_date=Min("date"), last_race_date=Max("date"))
    coverage["results"] = RaceResult.objects.count()
    last = with_results.order_by("-date").values("slug", "name", "date").first()
    weather = RaceWeather.objects.aggregate(races=Count("id"), wet=Count("id", filter=Q(is_wet=True)))
    return {"coverage": coverage, "last_result_race": last, "weather": weather}


def _job_runs() -> list[JobRun]:
    return list(JobRun.objects.order_by("-started_at")[:20])


WHAT_IF_PREFILL = {
    "results": "the actual starting grid",
    "qualifying": "the qualifying order (grid penalties not applied)",
    "predicted": "the predicted finishing order (no grid is known yet)",
    "entry list": "entry-list order (no grid or prediction yet)",
}


def what_if_prefill_order(
    *, entrants: list[tuple[int, int, int | None]], source: str, predicted: dict[int, int]
) -> tuple[list[tuple[int, int]], str]:
    """Pure: (driver_id, team_id, grid) entrants -> (driver_id, team_id) in the order the what-if
    form starts from, and which order that is (a WHAT_IF_PREFILL key): the actual grid when the race
    has one (results: pit-lane starts at the back; else qualifying), else the predicted finishing
    order (`predicted`: driver_id -> predicted position), else the entry list as given."""
    if source in ("results", "qualifying"):
        key = {d: (g if g else 10_000, i) for i, (d, _, g) in enumerate(entrants)}
        kind = source
    elif predicted:
        key = {d: (predicted.get(d, 10_000), i) for i, (d, _, _) in enumerate(entrants)}
        kind = "predicted"
    else:
        key = {d: (0, i) for i, (d, _, _) in enumerate(entrants)}
        kind = "entry list"
    ordered = sorted(entrants, key=lambda e: key[e[0]])
    return [(d, t) for d, t, _ in ordered], kind


def what_if_grid_prefill(*, race: Race, as_of: datetime | None = None) -> tuple[list[dict], str]:
    """The what-if form's drivers (exactly the race's entrants, as the engine requires) with their
    starting slots, and a sentence saying which order pre-fills it (WHAT_IF_PREFILL). `as_of`: a past
    clock — the entrants as known then (`race_entries(clock=)`) and the latest set made by then."""
    from predictions.models import Prediction
    from predictions.services.predicting import race_entries

    entries, source = race_entries(race=race, clock=as_of)
    grid = entries["grid"].where(entries["grid"].notna(), None)
    entrants = [
        (int(d), int(t), None if g is None else int(g))
        for d, t, g in zip(entries["driver_id"], entries["team_id"], grid, strict=True)
    ]
    predicted: dict[int, int] = {}
    if source not in ("results", "qualifying"):
        batch = (
            Prediction.objects.current_candidates()  # never a set computed at a past clock
            .filter(race=race, **({} if as_of is None else {"created_at__lte": as_of}))
            .order_by("-created_at", "-id")
            .values_list("batch", flat=True)
            .first()
        )
        if batch is not None:
            predicted = dict(
                Prediction.objects.filter(batch=batch).values_list("driver_id", "predicted_position")
            )
    order, kind = what_if_prefill_order(entrants=entrants, source=source, predicted=predicted)
    drivers = Driver.objects.in_bulk([d for d, _ in order])
    teams = Team.objects.in_bulk([t for _, t in order])
    rows = [
        {"ref": drivers[d].ref, "name": drivers[d].full_name, "team": teams[t].name, "slot": slot}
        for slot, (d, t) in enumerate(order, start=1)
    ]
    return rows, WHAT_IF_PREFILL[kind]
