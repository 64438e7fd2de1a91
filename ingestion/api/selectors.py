"""Read-side payloads for the /api/v1 data endpoints: plain JSON-ready dicts, a bounded number of queries.

The API caches the rendered result of these functions; they are the only place the data endpoints
touch the ORM. Shapes are documented by the serializers in ingestion/api/serializers.py.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, F, Max, OuterRef, Q, Subquery, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from f1site.clock import clock_display
from f1site.errors import NotFound
from ingestion.models import (
    Driver,
    PracticeResult,
    QualifyingResult,
    Race,
    RaceResult,
    RaceWeather,
    SprintResult,
    SyncRun,
    Team,
    WeatherForecast,
)
from ingestion.models.race import SESSION_START_FIELDS
from ingestion.models.results import NON_START_POSITION_TEXTS, NON_STARTS
from ingestion.selectors import (
    PRACTICE_SESSIONS,
    name_fold,
    race_results_known,
    race_status,
    race_status_now,
    races_with_results_known_by,
    session_results_known,
)

logger = logging.getLogger(__name__)


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _circuit(c) -> dict:
    return {
        "id": c.ref,
        "name": c.name,
        "locality": c.locality,
        "country": c.country,
        "latitude": c.latitude,
        "longitude": c.longitude,
        "circuit_type": c.circuit_type,
        "length_km": c.length_km,
    }


def _race_summary(race: Race, *, status: str) -> dict:
    return {**race_brief(race=race), "start": race.start, "status": status, "circuit": _circuit(race.circuit)}


def _has_results():
    return Exists(RaceResult.objects.filter(race_id=OuterRef("pk")))


def sql_rows(sql: str, params: list | tuple = ()) -> list[tuple]:
    """Rows of one hand-written query.

    The hot uncached endpoints (race list, standings, upcoming predictions) use fixed SQL: building
    and compiling the equivalent QuerySet cost ~0.3-1 ms of CPU per query, several times what
    PostgreSQL spends answering it, and these payloads need plain tuples, not model instances.
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def sql_datetime(value):
    """A timestamp from `sql_rows`: PostgreSQL gives an aware datetime; SQLite gives a naive one (or
    the stored text, for a computed column with no declared type to convert by), both in UTC. The
    ORM makes these aware itself; raw rows must do it here, or the same field would serialise with
    and without its `Z` depending on the database."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return value


_RACE_LIST_COLUMNS = """
SELECT r.slug, r.season_id, r.round, r.name, r.date, r.start,
       EXISTS (SELECT 1 FROM ingestion_raceresult rr WHERE rr.race_id = r.id) AS has_results,
       COUNT(*) OVER () AS total,
       c.ref, c.name, c.locality, c.country, c.latitude, c.longitude, c.circuit_type, c.length_km
FROM ingestion_race r JOIN ingestion_circuit c ON c.id = r.circuit_id
WHERE r.removed_upstream_at IS NULL
"""
# Keyed by "is there a season filter" (fixed texts: no SQL is assembled from input). Races on the
# calendar only (`Race.objects.on_calendar()`): one upstream no longer lists answers at its own id.
_RACE_LIST_SQL = {
    False: _RACE_LIST_COLUMNS + "AND r.season_id <= %s ORDER BY r.season_id, r.round LIMIT %s OFFSET %s",
    True: _RACE_LIST_COLUMNS
    + "AND r.season_id <= %s AND r.season_id = %s ORDER BY r.season_id, r.round LIMIT %s OFFSET %s",
}
_NO_SEASON_BOUND = 9999  # the list's season bound without a clock: every season
_RACE_COUNT_SQL = {
    False: "SELECT COUNT(*) FROM ingestion_race WHERE removed_upstream_at IS NULL AND season_id <= %s",
    True: "SELECT COUNT(*) FROM ingestion_race WHERE removed_upstream_at IS NULL AND season_id <= %s "
    "AND season_id = %s",
}


def _race_list_status(
    *, date: dt.date, start: dt.datetime | None, has_results: bool, as_of: dt.datetime | None
) -> str:
    """A listed race's status: now (`race_status_now`, which caps the cached page at the next start),
    or by the clock `as_of` with races/{race_id}?as_of='s rule (`race_status(race=, as_of=)`: completed
    once its stored results were known, awaiting results once started and not completed), on an unsaved Race
    holding the row's date and start (no query)."""
    if as_of is None:
        return race_status_now(race_date=date, start=start, has_results=has_results)
    return race_status(race=Race(date=date, start=start), as_of=as_of, has_results=has_results)


def _last_season_at(*, season: int | None, as_of: dt.datetime | None, what: str) -> int:
    """The last season a season list (races, drivers, teams: `what`) holds at the clock `as_of`, the
    clock's year in UTC (_NO_SEASON_BOUND without a clock): a later season's calendar is not taken
    to have existed then, as on the calendar page. NotFound for a `season` after it, one answer for
    every list (the drivers' and teams' answered an empty 200 where the races' was this 404)."""
    last_season = as_of.astimezone(dt.UTC).year if as_of is not None else _NO_SEASON_BOUND
    if season is not None and season > last_season:
        raise NotFound(
            f"No {what} of {season} as of {clock_display(clock=as_of)}: its calendar came later", what=what
        )
    return last_season


def _season_without_races(*, season: int, what: str) -> NotFound:
    """The one 404 of a season list (races, drivers, teams: `what`) for a `season` with no race on
    the calendar (none stored, or only races upstream no longer lists), with or without a clock —
    as `standings` and `championship/{season}` answer it. Before, `races?season=2030` was an empty
    200 without a clock and a 404 with one (API review). A season with races but no entrants yet (a
    next season's calendar loaded in December) is listed, empty for drivers and teams."""
    return NotFound(f"No {what} of {season}: no race on its calendar", what=what)


def _season_on_calendar(season: int) -> bool:
    """Whether `season` has a race on the calendar (one query; the drivers' and teams' lists ask
    only when their season page is empty)."""
    return Race.objects.filter(season_id=season, removed_upstream_at__isnull=True).exists()


def race_list(*, season: int | None, limit: int, offset: int, as_of: dt.datetime | None = None) -> dict:
    """One page of races with their status: ONE query (the page and the total, as a window count).
    `as_of`: a past clock — the races of the seasons up to the clock's (`_last_season_at`: a later
    `season` is NotFound; those on the calendar now), each with its status at the clock
    (`_race_list_status`). A `season` without races on the calendar is NotFound, with or without a
    clock (`_season_without_races`; no extra query: the page's count says so)."""
    last_season = _last_season_at(season=season, as_of=as_of, what="races")
    params = [last_season, *([season] if season is not None else [])]
    rows = sql_rows(_RACE_LIST_SQL[season is not None], [*params, limit, offset])
    if rows:
        count = rows[0][7]
    elif offset:  # past the last page the window count has no row to ride on
        count = sql_rows(_RACE_COUNT_SQL[season is not None], params)[0][0]
    else:
        count = 0
    if season is not None and not count:  # the season's races, whatever the clock: none on the calendar
        raise _season_without_races(season=season, what="races")
    results = []
    for (
        slug,
        season_id,
        rnd,
        name,
        date,
        start,
        has_results,
        _total,
        c_ref,
        c_name,
        c_locality,
        c_country,
        c_lat,
        c_lon,
        c_type,
        c_len,
    ) in rows:
        start = sql_datetime(start)
        results.append(
            {
                "id": slug,
                "season": season_id,
                "round": rnd,
                "name": name,
                "date": date,
                "start": start,
                "status": _race_list_status(date=date, start=start, has_results=has_results, as_of=as_of),
                "circuit": {
                    "id": c_ref,
                    "name": c_name,
                    "locality": c_locality,
                    "country": c_country,
                    "latitude": c_lat,
                    "longitude": c_lon,
                    "circuit_type": c_type,
                    "length_km": c_len,
                },
            }
        )
    return {"count": count, "limit": limit, "offset": offset, "results": results}


def _person(driver_id: int, drivers: dict[int, Driver]) -> dict:
    d = drivers[driver_id]
    return {"id": d.ref, "code": d.code, "name": d.full_name}


def _team(team_id: int, teams: dict[int, Team]) -> dict:
    t = teams[team_id]
    return {"id": t.ref, "name": t.name}


def _classification_rows(rows, drivers, teams, *, with_status: bool) -> list[dict]:
    out = []
    for r in rows:
        row = {
            "position": r.position,
            "position_text": r.position_text,
            "position_order": r.position_order,
            "driver": _person(r.driver_id, drivers),
            "team": _team(r.team_id, teams),
            "number": r.number,
            "grid": r.grid,
            "points": _num(r.points),
            "laps": r.laps,
            "time": r.time_text,
            "fastest_lap_time": r.fastest_lap_time,
        }
        if with_status:
            row["status"] = r.status.status
        out.append(row)
    return out


def weather_payload(*, race: Race, as_of: dt.datetime | None = None) -> dict:
    """The race's observed weather and the latest forecast per session (2 queries). `as_of`: a past
    clock — the weather as known then, as the race page shows it: observed (a summary of the whole
    race) only once its results were known (`ran`, `race_results_known`; no query before),
    forecasts issued (`fetched_at`) before the clock (`analytics.selectors.race_forecast_get`'s
    rule), never one fetched since."""
    ran = as_of is None or race_results_known(race=race, as_of=as_of)
    observed = RaceWeather.objects.filter(race=race).first() if ran else None
    forecasts = WeatherForecast.objects.filter(race=race)
    if as_of is not None:
        forecasts = forecasts.filter(fetched_at__lt=as_of)
    latest: dict[str, WeatherForecast] = {}
    for f in forecasts.order_by("session", "-fetched_at"):
        latest.setdefault(f.session, f)
    return {
        "observed": None
        if observed is None
        else {
            "source": observed.source,
            "samples": observed.samples,
            "air_temperature_mean": observed.air_temperature_mean,
            "track_temperature_mean": observed.track_temperature_mean,
            "humidity_mean": observed.humidity_mean,
            "wind_speed_mean": observed.wind_speed_mean,
            "rainfall_share": observed.rainfall_share,
            "is_wet": observed.is_wet,
        },
        "forecasts": [
            {
                "session": f.session,
                "valid_at": f.valid_at,
                "fetched_at": f.fetched_at,
                "air_temperature": f.air_temperature,
                "precipitation_probability": f.precipitation_probability,
                "precipitation_mm": f.precipitation_mm,
                "wind_speed": f.wind_speed,
                "humidity": f.humidity,
            }
            for f in sorted(latest.values(), key=lambda f: f.valid_at)
        ],
    }


def race_detail(*, race: Race, weather: dict, as_of: dt.datetime | None = None) -> dict:
    """Schedule, results, qualifying, sprint, practice and weather of one race (7 queries).

    `as_of`: a past clock — the race as it stood then, by the race page's rules (`?as_of=` on
    /races/<id>/): its status by the clock (`race_status(race=, as_of=)`), the results once they were
    known (`race_results_known`: not while it was being run), sprint, qualifying and practice rows only of the sessions whose
    results were known by then (`ingestion.selectors.session_results_known`: not while the session was held; no query for a
    session still to come or being held). `weather` is then
    `weather_payload(race=, as_of=)`."""
    practice_qs = PracticeResult.objects.filter(race=race)
    if as_of is None:
        known, ran = frozenset(SESSION_START_FIELDS), True
    else:
        known = session_results_known(race=race, clock=as_of)
        ran = race_results_known(race=race, as_of=as_of)
        practice_qs = practice_qs.filter(session__in=[n for n, s in PRACTICE_SESSIONS.items() if s in known])
    results, sprint, qualifying, practice = [], [], [], []
    if ran:
        results = list(
            RaceResult.objects.filter(race=race)
            .select_related("status")
            # a 1950s car shared by two drivers: both at its place, in the source's order
            .order_by("position_order", "shared_car_index")
        )
    if "sprint" in known:
        sprint = list(
            SprintResult.objects.filter(race=race).select_related("status").order_by("position_order")
        )
    if "qualifying" in known:
        qualifying = list(QualifyingResult.objects.filter(race=race).order_by("position"))
    if known & {"fp1", "fp2", "fp3"}:
        practice = list(practice_qs.order_by("session", "position", "driver_id"))
    all_rows = [*results, *sprint, *qualifying, *practice]
    drivers = Driver.objects.in_bulk({r.driver_id for r in all_rows})
    teams = Team.objects.in_bulk({r.team_id for r in all_rows})
    practice_by_session: dict[str, list] = {}
    for p in practice:
        practice_by_session.setdefault(p.session, []).append(
            {
                "position": p.position,
                "driver": _person(p.driver_id, drivers),
                "team": _team(p.team_id, teams),
                "time": p.time_text,
                "laps": p.laps,
            }
        )
    return {
        **_race_summary(
            race,
            status=race_status_now(
                race_date=race.date,
                start=race.start,
                has_results=bool(results),
                removed=race.removed_upstream_at is not None,
            )
            if as_of is None
            # results are loaded only once known, and only then can it be completed: no query
            else race_status(race=race, as_of=as_of, has_results=bool(results)),
        ),
        "removed_upstream_at": race.removed_upstream_at,
        "url": race.url,
        "schedule": {
            "fp1": race.fp1_start,
            "fp2": race.fp2_start,
            "fp3": race.fp3_start,
            "sprint_qualifying": race.sprint_qualifying_start,
            "sprint": race.sprint_start,
            "qualifying": race.qualifying_start,
            "race": race.start,
        },
        "results": _classification_rows(results, drivers, teams, with_status=True),
        "sprint": _classification_rows(sprint, drivers, teams, with_status=True),
        "qualifying": [
            {
                "position": q.position,
                "driver": _person(q.driver_id, drivers),
                "team": _team(q.team_id, teams),
                "number": q.number,
                "q1": q.q1,
                "q2": q.q2,
                "q3": q.q3,
            }
            for q in qualifying
        ],
        "practice": [{"session": s, "results": rows} for s, rows in sorted(practice_by_session.items())],
        "weather": weather,
    }


def driver_list_item(*, driver: Driver) -> dict:
    return {
        "id": driver.ref,
        "code": driver.code,
        "permanent_number": driver.permanent_number,
        "given_name": driver.given_name,
        "family_name": driver.family_name,
        "name": driver.full_name,
        "date_of_birth": driver.date_of_birth,
        "nationality": driver.nationality,
        "url": driver.url,
    }


def _entered(column: str, *, season: int | None, as_of: dt.datetime | None) -> Q:
    """The drivers' or teams' (`column`: "driver_id", "team_id") filter of the lists: a race result or
    a qualifying entry (a driver who has only qualified so far, or did not qualify) — of `season`'s
    races, and at a clock `as_of` of the races whose results were known by then only
    (`races_with_results_known_by`, the rule of drivers|teams/{id}?as_of=, so a debutant is listed
    when his career there counts the race). Practice-only entrants (FP1 outings) are not.
    Subqueries, no extra query."""
    results, qualifying = RaceResult.objects.all(), QualifyingResult.objects.all()
    if season is not None:
        results = results.filter(race__season_id=season)
        qualifying = qualifying.filter(race__season_id=season)
    if as_of is not None:
        known = races_with_results_known_by(as_of=as_of)
        results, qualifying = results.filter(race__in=known), qualifying.filter(race__in=known)
    return Q(pk__in=results.values(column)) | Q(pk__in=qualifying.values(column))


def driver_list(*, season: int | None, limit: int, offset: int, as_of: dt.datetime | None = None) -> dict:
    """Drivers by family then given name in dictionary order (`name_fold`), ties by the exact
    spelling then id. 2 queries: every matching driver's names (~900 rows unfiltered, a miss of a
    cached page only), then the page's rows. Unfiltered: every driver stored (practice-only ones
    too, listed in each race's practice results); with `season` or a clock `as_of`: the race
    drivers (`_entered`) of that season, of the races whose results were known by then; a `season`
    after the clock's year is NotFound, as for race_list (`_last_season_at`), and so is a `season`
    without races on the calendar (`_season_without_races`: one more query, only when the season's
    page is empty)."""
    _last_season_at(season=season, as_of=as_of, what="drivers")
    qs = Driver.objects.all()
    if season is not None or as_of is not None:
        qs = Driver.objects.filter(_entered("driver_id", season=season, as_of=as_of))
    names = sorted(
        qs.values_list("family_name", "given_name", "pk"),
        key=lambda row: (name_fold(row[0]), name_fold(row[1]), row),
    )
    if season is not None and not names and not _season_on_calendar(season):
        raise _season_without_races(season=season, what="drivers")
    page = [pk for _, _, pk in names[offset : offset + limit]]
    drivers = Driver.objects.in_bulk(page)
    results = [driver_list_item(driver=drivers[pk]) for pk in page if pk in drivers]
    return {"count": len(names), "limit": limit, "offset": offset, "results": results}


def team_list(*, season: int | None, limit: int, offset: int, as_of: dt.datetime | None = None) -> dict:
    """Teams by name in dictionary order (`name_fold`), ties by id. 2 queries; `season` and
    `as_of` as for driver_list (a race result or a qualifying entry, not practice; a `season` after
    the clock's year, or without races on the calendar, is NotFound)."""
    _last_season_at(season=season, as_of=as_of, what="teams")
    qs = Team.objects.all()
    if season is not None or as_of is not None:
        qs = Team.objects.filter(_entered("team_id", season=season, as_of=as_of))
    # Dictionary order as driver_list (`name_fold`): by code point "BMW Sauber" came before
    # "Benetton" and "Brabham-BRM".
    names = sorted(qs.values_list("name", "pk"), key=lambda row: (name_fold(row[0]), row))
    if season is not None and not names and not _season_on_calendar(season):
        raise _season_without_races(season=season, what="teams")
    page = [pk for _, pk in names[offset : offset + limit]]
    teams = Team.objects.in_bulk(page)
    results = [
        {"id": t.ref, "name": t.name, "nationality": t.nationality, "url": t.url}
        for t in (teams[pk] for pk in page if pk in teams)
    ]
    return {"count": len(names), "limit": limit, "offset": offset, "results": results}


_STANDINGS_RACES = """
SELECT r.id, r.season_id, r.round, r.slug, r.name, r.date FROM ingestion_race r
WHERE EXISTS (SELECT 1 FROM ingestion_driverstanding ds WHERE ds.race_id = r.id)
  AND r.removed_upstream_at IS NULL
"""
_STANDINGS_LATEST_SEASON_SQL = (
    "SELECT MAX(r.season_id) FROM ingestion_race r "
    "WHERE EXISTS (SELECT 1 FROM ingestion_driverstanding ds WHERE ds.race_id = r.id) "
    "AND r.removed_upstream_at IS NULL"  # as _STANDINGS_RACES: the season must have a race it can show
)
# The race whose standings are asked for, keyed by (season given, round given): the latest with
# standings, or exactly the round asked for (never an earlier one in its place).
_STANDINGS_RACE_SQL = {
    (False, False): _STANDINGS_RACES + "ORDER BY r.season_id DESC, r.round DESC LIMIT 1",
    (True, False): _STANDINGS_RACES + "AND r.season_id = %s ORDER BY r.round DESC LIMIT 1",
    (True, True): _STANDINGS_RACES + "AND r.season_id = %s AND r.round = %s",
}
_SEASON_ROUNDS_SQL = (
    "SELECT COUNT(*), MAX(CASE WHEN EXISTS (SELECT 1 FROM ingestion_driverstanding ds"
    " WHERE ds.race_id = r.id) THEN r.round END) FROM ingestion_race r"
    " WHERE r.season_id = %s AND r.removed_upstream_at IS NULL"
)

# Each driver's team: the one of their latest race result in the season up to the standings'
# round (a later row wins a tie within a round). A window function rather than PostgreSQL's
# DISTINCT ON, so the embedded SQLite default answers it too.
_DRIVER_STANDINGS_SQL = """
WITH team_rows AS (
    SELECT rr.driver_id, t.ref, t.name, row_number() OVER (
        PARTITION BY rr.driver_id ORDER BY r.round DESC, rr.id DESC
    ) AS newest
    FROM ingestion_raceresult rr
    JOIN ingestion_race r ON r.id = rr.race_id
    JOIN ingestion_team t ON t.id = rr.team_id
    WHERE r.season_id = %s AND r.round <= %s
)
SELECT s.position, s.position_text, d.ref, d.code, d.given_name, d.family_name, s.points, s.wins,
       lt.ref, lt.name
FROM ingestion_driverstanding s
JOIN ingestion_driver d ON d.id = s.driver_id
LEFT JOIN team_rows lt ON lt.driver_id = s.driver_id AND lt.newest = 1
WHERE s.race_id = %s
ORDER BY s.position
"""

_TEAM_STANDINGS_SQL = """
SELECT s.position, s.position_text, t.ref, t.name, s.points, s.wins
FROM ingestion_teamstanding s JOIN ingestion_team t ON t.id = s.team_id
WHERE s.race_id = %s
ORDER BY s.position
"""


def _standings_race_at(*, season: int | None, round_number: int | None, as_of: dt.datetime) -> tuple:
    """(pk, season, round, slug, name, date) of the race whose standings stood at the clock `as_of`:
    the standings page's pick (`analytics.selectors.season_list` / `standings_race_pick(as_of=)`:
    races whose results were known by then, `races_with_results_known_by`), the last of them unless
    `round_number` names one.
    2 queries (1 with a season); NotFound as the page's 404s."""
    from analytics.selectors import season_list, standings_race_pick

    if season is None:
        seasons = season_list(as_of=as_of)
        if not seasons:
            raise NotFound(f"No standings as of {clock_display(clock=as_of)}", what="standings")
        season = seasons[0]
    race, _ = standings_race_pick(season=season, round_number=round_number, as_of=as_of)
    return race.pk, race.season_id, race.round, race.slug, race.name, race.date


def standings_get(*, season: int | None, round_number: int | None, as_of: dt.datetime | None = None) -> dict:
    """Drivers' and constructors' standings after `round_number` of `season` (defaults: the latest).

    3 queries (4 with a round but no season): the race, the drivers' rows with each driver's
    latest team, the teams' rows. `as_of`: a past clock — the standings as they stood then, after
    the last race whose results were known by it (`_standings_race_at`, the standings page's rule); 4 queries (3 with
    a season).
    """
    if as_of is not None:
        return _standings_payload(*_standings_race_at(season=season, round_number=round_number, as_of=as_of))
    if season is None and round_number is not None:
        # "round N of the latest season with standings": the season first, then the round in it.
        season = sql_rows(_STANDINGS_LATEST_SEASON_SQL)[0][0]
        if season is None:
            raise NotFound("No standings stored yet", what="standings")
    params = [p for p in (season, round_number) if p is not None]
    # Without a season: the latest race with standings of the latest such season.
    race = sql_rows(_STANDINGS_RACE_SQL[season is not None, round_number is not None], params)
    if not race:
        if season is None:
            raise NotFound("No standings stored yet", what="standings")
        if round_number is None:
            raise NotFound(f"No standings for season {season}", what="standings")
        raise NotFound(_no_standings_after_round(season, round_number), what="standings")
    return _standings_payload(*race[0])


def _standings_payload(race_pk: int, season: int, race_round: int, slug: str, name: str, date) -> dict:
    """The standings after one race: its drivers' rows with each driver's latest team, its teams'
    rows (2 queries)."""
    return {
        "season": season,
        "round": race_round,
        "race": {"id": slug, "name": name, "date": date},
        "drivers": [
            {
                "position": position,
                "position_text": position_text,
                "driver": {"id": ref, "code": code, "name": f"{given} {family}"},
                "team": None if team_ref is None else {"id": team_ref, "name": team_name},
                "points": _num(points),
                "wins": wins,
            }
            for position, position_text, ref, code, given, family, points, wins, team_ref, team_name in sql_rows(
                _DRIVER_STANDINGS_SQL, [season, race_round, race_pk]
            )
        ],
        "teams": [
            {
                "position": position,
                "position_text": position_text,
                "team": {"id": ref, "name": team_name},
                "points": _num(points),
                "wins": wins,
            }
            for position, position_text, ref, team_name, points, wins in sql_rows(
                _TEAM_STANDINGS_SQL, [race_pk]
            )
        ],
    }


def _no_standings_after_round(season: int, round_number: int) -> str:
    """Why there are no standings after `round_number` (error path only: one more query)."""
    rounds, latest = sql_rows(_SEASON_ROUNDS_SQL, [season])[0]
    if not rounds:
        return f"No standings for season {season}: no races stored for it"
    if round_number > rounds:
        return f"No round {round_number} in {season}: the season has {rounds} rounds"
    done = f"the latest with standings is round {latest}" if latest else "no round has standings yet"
    return f"No standings after round {round_number} of {season} yet: {done}"


# 1950s shared drives: one car driven in turn by two or three drivers has one classification and a
# result row per driver (1957 British GP: Brooks and Moss, both position 1, both grid 3), the driver
# who started it listed first (shared_car_index 0). The records count such a car once for its team —
# one race won, one car on the podium, one race started from pole — and its win or podium once for
# each of its drivers, while a pole is only the starter's (Brooks took over Moss's pole car at that
# race: Brooks' published 3 poles, not 4; Farina 5, Castellotti 1). A classified position is one car,
# so the cars on the podium are the (race, position) pairs: a team's shared car once, a driver's rows
# (one position per car he drove; Farina was 2nd and 3rd at the 1955 Argentine GP in two cars). Counted
# per row, Vanwall 1957 had 4 wins for 3 races won.
def _starter_only(entity: dict) -> bool:
    """A driver's pole is the car he started; a team's is any of its cars'."""
    return "driver" in entity


def _season_aggregates(rows: list[dict], sprint: dict[int, float], *, starter_poles: bool) -> list[dict]:
    """Per-season totals from race-result rows ({season, race, position, grid, points,
    shared_car_index}).

    `races` counts distinct races, `entries` the result rows: a team enters two cars per race and
    a 1950s driver could share more than one car, so the two differ; `points`, the classified counts
    and the averages are per entry. `wins` are races won and `podiums` cars on the podium, `poles`
    races started from pole position (grid 1) — with `starter_poles` (a driver) only in the car he
    started: see the comment above. `points` are the points scored: the Grand Prix's
    (`race_points`, a shared car's split between its drivers) plus the sprints' (`sprint_points`,
    from `sprint`: season -> sum of the sprint results' points) — the standings' figure wherever
    every result counted (not with the drivers' dropped scores until 1990, nor the constructors'
    best-car rules before 1979). Poles come from the grid: every season has one, while qualifying
    classifications start in 1994 with gaps (1997: rounds 1-10) — counting qualifying P1 gave Senna
    1988 no pole — and in 2021 a sprint set the Grand Prix grid (pole went to the sprint's winner)."""
    seasons: dict[int, dict] = {}
    for r in rows:
        s = seasons.setdefault(
            r["season"],
            {
                "season": r["season"],
                "races": 0,
                "entries": 0,
                "wins": 0,
                "podiums": 0,
                "points": 0.0,
                "race_points": 0.0,
                "sprint_points": 0.0,
                "classified": 0,
                "not_classified": 0,
                "poles": 0,
                "_finish": [],
                "_grid": [],
                "_races": set(),
                "_wins": set(),
                "_podiums": set(),
                "_poles": set(),
            },
        )
        s["entries"] += 1
        s["_races"].add(r["race"])
        s["race_points"] += float(r["points"] or 0)
        if r["position"] is not None:
            s["classified"] += 1
            s["_finish"].append(r["position"])
            if r["position"] == 1:
                s["_wins"].add(r["race"])
            if r["position"] <= 3:
                s["_podiums"].add((r["race"], r["position"]))
        else:
            s["not_classified"] += 1
        if r["grid"]:
            s["_grid"].append(r["grid"])
        if r["grid"] == 1 and not (starter_poles and r["shared_car_index"]):
            s["_poles"].add(r["race"])
    for season, points in sprint.items():
        if season in seasons:
            seasons[season]["sprint_points"] = float(points or 0)
    out = []
    for s in sorted(seasons.values(), key=lambda s: s["season"]):
        finish, grid = s.pop("_finish"), s.pop("_grid")
        for key in ("races", "wins", "podiums", "poles"):
            s[key] = len(s.pop(f"_{key}"))
        s["race_points"] = round(s["race_points"], 2)
        s["sprint_points"] = round(s["sprint_points"], 2)
        s["points"] = round(s["race_points"] + s["sprint_points"], 2)
        s["average_finish"] = round(sum(finish) / len(finish), 2) if finish else None
        s["average_grid"] = round(sum(grid) / len(grid), 2) if grid else None
        s["best_finish"] = min(finish) if finish else None
        out.append(s)
    return out


def _started_rows(*, as_of: dt.datetime | None, **entity):
    """(race results, sprint results) of `driver=` or `team=`; with a clock, of the races whose
    results were known by then only (`races_with_results_known_by`: a race being run at the clock
    is left out, and the sprint with its race — the driver's and team's pages' cut)."""
    results, sprints = RaceResult.objects.filter(**entity), SprintResult.objects.filter(**entity)
    if as_of is not None:
        known = races_with_results_known_by(as_of=as_of)
        results, sprints = results.filter(race__in=known), sprints.filter(race__in=known)
    return results, sprints


def _entity_aggregates(*, season: int | None, as_of: dt.datetime | None = None, **entity) -> list[dict]:
    """Per-season totals of `driver=` or `team=` (`season` None = every season): 2 queries. `as_of`: a
    past clock — only races with results known by then (`races_with_results_known_by`, as the
    analytics at a clock)."""
    qs, qs_sprint = _started_rows(as_of=as_of, **entity)
    if season is not None:
        qs = qs.filter(race__season_id=season)
        qs_sprint = qs_sprint.filter(race__season_id=season)
    rows = list(
        qs.values("race", "position", "grid", "points", "shared_car_index", season=F("race__season_id"))
    )
    sprint = dict(
        qs_sprint.values("race__season_id")
        .order_by()
        .annotate(total=Sum("points"))
        .values_list("race__season_id", "total")
    )
    return _season_aggregates(rows, sprint, starter_poles=_starter_only(entity))


def driver_aggregates(*, driver: Driver, season: int | None, as_of: dt.datetime | None = None) -> list[dict]:
    return _entity_aggregates(driver=driver, season=season, as_of=as_of)


def team_aggregates(*, team: Team, season: int | None, as_of: dt.datetime | None = None) -> list[dict]:
    return _entity_aggregates(team=team, season=season, as_of=as_of)


# --- drivers/{id}, teams/{id}: the entity and its career in a few figures -------------------------
# A result row whose car took the start: the analytics' definition (`analytics.services.common.started`),
# as a filter, so `starts` here is the sum of the analytics' season `starts`.
_STARTED = ~(Q(status__status__in=NON_STARTS) | Q(position_text__in=NON_START_POSITION_TEXTS))


def _career(*, as_of: dt.datetime | None = None, **entity) -> dict:
    """The career totals of `driver=` or `team=` from its race results: one query (a row per
    season) plus one for the sprints' points. `as_of`: a past clock — only races whose results were
    known by then (`races_with_results_known_by`, as the analytics and the pages at a clock; one
    subquery, no extra query).

    `races` are the races entered and `entries` the result rows (a team's cars; a 1950s driver's
    shared cars) and `points` all points scored, Grand Prix plus sprint. `starts` are the races in
    which one of its cars took the start (as the analytics' `form.starts`), `wins` the races won,
    `podiums` the cars on the podium and `poles` the races started from grid 1 (a driver's: in the
    car he started), counted as the records count a 1950s shared car (see the comment above
    _season_aggregates): once for its team — Vanwall 9 wins, Ferrari's 1955 Argentine GP 2 podiums
    for its two cars and six drivers —, its win or podium once for each driver. Every figure is the
    sum of analytics/{driver,team}/{id}'s `seasons`."""
    starter = Q(shared_car_index=0) if _starter_only(entity) else Q()
    results, sprints = _started_rows(as_of=as_of, **entity)
    seasons = list(
        results.values(season=F("race__season_id"))
        .order_by("season")
        .annotate(
            races=Count("race", distinct=True),
            entries=Count("pk"),
            starts=Count("race", filter=_STARTED, distinct=True),
            wins=Count("race", filter=Q(position=1), distinct=True),
            # a classified position is one car: the podium's cars are its races at P1, P2 and P3
            podiums=Count("race", filter=Q(position=1), distinct=True)
            + Count("race", filter=Q(position=2), distinct=True)
            + Count("race", filter=Q(position=3), distinct=True),
            poles=Count("race", filter=Q(grid=1) & starter, distinct=True),
            points=Sum("points"),
        )
    )
    sprint = sprints.aggregate(total=Sum("points"))["total"]
    # a race belongs to one season, so the per-season distinct counts add up to the career's
    totals = {
        key: sum(s[key] for s in seasons)
        for key in ("races", "entries", "starts", "wins", "podiums", "poles")
    }
    race_points = round(sum(float(s["points"] or 0) for s in seasons), 2)
    sprint_points = round(float(sprint or 0), 2)
    years = [s["season"] for s in seasons]
    return {
        "seasons": years,
        "first_season": years[0] if years else None,
        "last_season": years[-1] if years else None,
        **totals,
        "points": round(race_points + sprint_points, 2),
        "race_points": race_points,
        "sprint_points": sprint_points,
    }


def race_brief(*, race: Race) -> dict:
    """A race as the API names it in another entity's payload (a driver's latest race, a prediction's
    race): its id, season, round, name and date."""
    return {
        "id": race.slug,
        "season": race.season_id,
        "round": race.round,
        "name": race.name,
        "date": race.date,
    }


# Latest = the last race by date (a race upstream removed is parked at round 100+, so not by round).
_LATEST_FIRST = ("-race__date", "-race__season_id", "-race__round")


def _entity_with_career(model: type[Driver] | type[Team], *, ref: str, what: str, as_of: dt.datetime | None):
    """The driver or team `ref` (`what`: "driver", "team") and its career (by the clock `as_of`,
    None = now): 3 queries; an unknown id raises NotFound."""
    entity = model.objects.filter(ref=ref).first()
    if entity is None:
        raise NotFound(f"No {what} with id {ref!r}", what=what)
    return entity, _career(as_of=as_of, **{what: entity})


def driver_detail_get(*, ref: str, as_of: dt.datetime | None = None) -> dict:
    """GET drivers/{id}: the driver's fields (as in the list) plus a career summary, the team of his
    latest race and where to read more. 4 queries; an unknown id raises NotFound.

    `as_of`: a past clock — the career, the latest race and its team as they stood then: only races
    whose results were known by the clock count (`races_with_results_known_by`, the driver page's
    rule at a clock: not a race being run then); none by then
    is the empty career of a driver without a race. `links.analytics` is the path, as without a clock
    (its `?as_of=` gives the same cut)."""
    driver, career = _entity_with_career(Driver, ref=ref, what="driver", as_of=as_of)
    results, _ = _started_rows(as_of=as_of, driver=driver)
    latest = results.select_related("race", "team").order_by(*_LATEST_FIRST, "position_order").first()
    return {
        **driver_list_item(driver=driver),
        "career": career,
        "latest_team": None if latest is None else {"id": latest.team.ref, "name": latest.team.name},
        "latest_race": None if latest is None else race_brief(race=latest.race),
        "links": {"analytics": reverse("api-analytics-driver", args=[driver.ref])},
    }


def team_detail_get(*, ref: str, as_of: dt.datetime | None = None) -> dict:
    """GET teams/{id}: the team's fields (as in the list) plus a career summary, the drivers of its
    latest race and where to read more. 4 queries; an unknown id raises NotFound. `as_of`: as for
    `driver_detail_get`, the races with results known by the clock only."""
    team, career = _entity_with_career(Team, ref=ref, what="team", as_of=as_of)
    results, _ = _started_rows(as_of=as_of, team=team)
    latest_race = results.order_by(*_LATEST_FIRST).values("race_id")[:1]
    rows = list(
        RaceResult.objects.filter(team=team, race_id=Subquery(latest_race))
        .select_related("race", "driver")
        .order_by("position_order")
    )
    drivers: dict[int, dict] = {}  # a driver in two of its cars that race (1950s) is listed once
    for r in rows:
        drivers.setdefault(
            r.driver_id, {"id": r.driver.ref, "code": r.driver.code, "name": r.driver.full_name}
        )
    return {
        "id": team.ref,
        "name": team.name,
        "nationality": team.nationality,
        "url": team.url,
        "career": career,
        "latest_drivers": list(drivers.values()),
        "latest_race": race_brief(race=rows[0].race) if rows else None,
        "links": {"analytics": reverse("api-analytics-team", args=[team.ref])},
    }


def _schedule_text(task) -> str:
    for attr in ("crontab", "interval", "solar", "clocked"):
        schedule = getattr(task, attr, None)
        if schedule is not None:
            return str(schedule)
    return ""


def periodic_tasks_list() -> list:
    """The beat schedule in use: every django-celery-beat PeriodicTask with its schedule row, by name
    (what beat sends and `jobs_status` reports; staff edit it in admin)."""
    from django_celery_beat.models import PeriodicTask

    return list(
        PeriodicTask.objects.select_related("crontab", "interval", "solar", "clocked").order_by("name")
    )


def job_seeded_schedule_text(*, spec) -> str:
    """Pure: a JobSpec's seeded schedule in the words `_schedule_text` uses (`0 6 * * * UTC`)."""
    if spec.interval_seconds:
        return f"every {spec.interval_seconds} seconds"
    fields = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    return " ".join(str(spec.crontab.get(f, "*")) for f in fields) + " UTC"


def job_schedules_list() -> list[dict]:
    """`run_job --list`: each pipeline job (the registry, `jobs.job_specs`) with the schedule in use —
    its PeriodicTask rows, found by task path as `jobs_status` matches them (a row staff renamed
    included) — then the other PeriodicTasks (`celery.backend_cleanup`). Per entry: `job`, `task`,
    `row` (the PeriodicTask's name, None when the job has none), `enabled`, `schedule` (the row's,
    as `jobs_status` shows it), `seeded` (the registry's schedule, for a job without a row)."""
    from ingestion.services.jobs import job_specs

    tasks = periodic_tasks_list()
    entries: list[dict] = []
    claimed: set[int] = set()
    for spec in job_specs():
        seeded = job_seeded_schedule_text(spec=spec)
        rows = [t for t in tasks if t.task == spec.task]
        claimed.update(t.pk for t in rows)
        for t in rows or [None]:
            entries.append(
                {
                    "job": spec.name,
                    "task": spec.task,
                    "row": t.name if t else None,
                    "enabled": bool(t and t.enabled),
                    "schedule": _schedule_text(t) if t else "",
                    "seeded": seeded,
                }
            )
    for t in tasks:
        if t.pk not in claimed:
            entries.append(
                {
                    "job": t.name,
                    "task": t.task,
                    "row": t.name,
                    "enabled": t.enabled,
                    "schedule": _schedule_text(t),
                    "seeded": "",
                }
            )
    return entries


def _to_second(value: dt.datetime) -> dt.datetime:
    return (value + dt.timedelta(microseconds=500_000)).replace(microsecond=0)


def _beat_sync_every() -> float:
    """How often beat writes PeriodicTask.last_run_at back to the database (DatabaseScheduler)."""
    from ingestion.services.jobs import SingleBeatScheduler

    return float(SingleBeatScheduler.sync_every)


def _due_at(task, *, sent_at: dt.datetime | None, now: dt.datetime) -> tuple[dt.datetime, bool]:
    """(when `task` is due, whether that rests only on the database's lagging last_run_at).

    The base is the latest evidence that beat sent the job: PeriodicTask.last_run_at, or `sent_at`
    (its latest JobRun or idle check) when fresher. Without any, beat's own base: the task's
    date_changed (django_celery_beat ModelEntry), or its start_time when it has one (beat then sends
    it at start_time). remaining_estimate counts from now (negative once the due time has passed);
    the due time is reported as is, never clamped to now, so a job beat did not send looks overdue."""
    base = max(filter(None, [task.last_run_at, sent_at]), default=None)
    # the column lags only when it is the base; a job run by hand before beat ever sent it has a
    # JobRun but no last_run_at (comparing None with it raised TypeError: next_run_at was null)
    lagging = task.last_run_at is not None and (sent_at is None or task.last_run_at > sent_at)
    if base is None:
        if task.start_time is not None:
            return _to_second(max(task.start_time, task.date_changed)), False
        base = task.date_changed or now
    # to the second: the schedule reads its own clock, microseconds after `now`
    due = _to_second(now + task.schedule.remaining_estimate(base))
    if task.start_time is not None and task.start_time > due:  # beat holds it until start_time
        due = _to_second(task.start_time)
    return due, lagging


def jobs_status() -> dict:
    """Every beat PeriodicTask with its last JobRun, its due time (`next_run_at`, in the past when beat
    has not sent it) and whether it is `overdue` (due more than JOB_OVERDUE_GRACE s ago); SyncRuns
    until a scheduler exists. `liveness`: whether a worker and the beat are alive
    (ingestion.services.liveness.pipeline_liveness_get).

    The due time counts from the latest evidence that the job was sent (`_last_sent_at`): beat writes
    PeriodicTask.last_run_at back to the database only every `sync_every` (180 s), so for a 30 s job
    it lags; the job's latest JobRun and idle check are fresher. When only that lagging column speaks
    for the job (the worker is down too), the grace also covers beat's write-back interval. A job
    with no evidence at all counts from when its task was created or last changed (as beat does), so
    a fresh deploy whose beat never ran still shows overdue jobs.

    In the eager mode (the embedded set-up, liveness `mode` "eager") no beat runs, so nothing sends
    the schedule: no job is overdue, and each enabled one says why in `overdue_note` (as /health's
    beat check says "n/a"); the due time is still the schedule's."""
    from ingestion.models.job_run import JobRun
    from ingestion.services.jobs import job_checks_get, job_name_for_task
    from ingestion.services.liveness import EAGER_OVERDUE, pipeline_liveness_get
    from ingestion.services.stale_runs import job_runs_stale_close_quietly

    liveness = pipeline_liveness_get()
    job_runs_stale_close_quietly()  # a run whose worker died reads `interrupted`, not `running`

    tasks = periodic_tasks_list()
    if not tasks:
        from ingestion.services.sync_runs import sync_runs_stale_close_quietly

        sync_runs_stale_close_quietly()  # an OpenF1 / weather run whose process died: not `running`
        latest = SyncRun.objects.values("source").annotate(last=Max("pk")).values("last")
        runs = SyncRun.objects.filter(pk__in=latest).order_by("source")
        return {
            "source": "sync_runs",
            "redacted": False,
            "liveness": liveness,
            "jobs": [
                {
                    "name": f"sync_{r.source}",
                    "task": "",
                    "enabled": True,
                    "schedule": "",
                    "last_run_at": r.started_at,
                    "last_finished_at": r.finished_at,
                    "last_status": r.status,
                    "last_error": "; ".join(str(e) for e in r.errors[:3]) if r.errors else "",
                    "next_run_at": None,
                    "overdue": False,
                    "overdue_note": "",
                    "last_checked_at": r.started_at,
                }
                for r in runs
            ],
        }
    # JobRun.job is the job's own name; a PeriodicTask staff renamed is matched to it by task path
    job_of = {t.pk: job_name_for_task(task=t.task, default=t.name) for t in tasks}
    names = sorted(set(job_of.values()))
    latest = JobRun.objects.filter(job__in=names).values("job").annotate(last=Max("pk")).values("last")
    last = {r.job: r for r in JobRun.objects.filter(pk__in=latest)}
    checks = job_checks_get(jobs=names)  # idle ticks (live_timing outside sessions) leave no JobRun
    now = timezone.now()
    # beat sends a due job within a tick (<= 20 s): later than the grace, it is overdue
    grace = dt.timedelta(seconds=settings.JOB_OVERDUE_GRACE)
    write_back = dt.timedelta(seconds=_beat_sync_every())
    no_beat = liveness["mode"] == "eager"  # nothing sends the schedule: never overdue
    jobs = []
    for t in tasks:
        run = last.get(job_of[t.pk])
        sent_at = max(filter(None, [run.started_at if run else None, checks.get(job_of[t.pk])]), default=None)
        next_run, lagging = None, False
        if t.enabled:
            try:
                next_run, lagging = _due_at(t, sent_at=sent_at, now=now)
            except Exception:  # an odd schedule must not break the status page, but must be seen
                logger.warning("no due time for a periodic task", extra={"task": t.name}, exc_info=True)
                next_run, lagging = None, False
        overdue_before = now - grace - (write_back if lagging else dt.timedelta(0))
        jobs.append(
            {
                "name": t.name,
                "task": t.task,
                "enabled": t.enabled,
                "schedule": _schedule_text(t),
                "last_run_at": run.started_at if run else t.last_run_at,
                "last_finished_at": run.finished_at if run else None,
                "last_status": run.status if run else None,
                "last_error": (run.error[:500] if run and run.error else ""),
                "next_run_at": next_run,
                "overdue": not no_beat and next_run is not None and next_run < overdue_before,
                "overdue_note": EAGER_OVERDUE if no_beat and t.enabled else "",
                "last_checked_at": sent_at,
            }
        )
    return {"source": "scheduler", "redacted": False, "liveness": liveness, "jobs": jobs}


def jobs_status_redact(status: dict) -> dict:
    """`jobs_status` for anonymous callers: statuses, times, overdue and liveness states; no error
    texts (they name internal hosts and URLs), no worker hostnames, no beat lock token."""
    from ingestion.services.liveness import liveness_redact

    return {
        **status,
        "redacted": True,
        "liveness": liveness_redact(status["liveness"]),
        "jobs": [{**job, "last_error": ""} for job in status["jobs"]],
    }
