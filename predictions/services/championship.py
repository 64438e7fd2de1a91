"""Championship: final standings of a completed season, or a Monte Carlo of the remaining rounds
(title probabilities and expected final points) on top of the stored standings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from django.db.models import Sum

from f1site.clock import clock_display, clock_to_text
from f1site.errors import NotFound
from ingestion.models import (
    Driver,
    DriverStanding,
    Race,
    RaceResult,
    SprintResult,
    Team,
    TeamStanding,
)
from ingestion.selectors import race_pre_race_cutoff, race_results_known, session_results_known

if TYPE_CHECKING:
    from f1site.cache import ListKey

POINTS = np.array([25, 18, 15, 12, 10, 8, 6, 4, 2, 1], float)
# Sprint points: 3-2-1 in 2021 (the first sprints), 8-7-…-1 since 2022.
SPRINT_POINTS = np.array([8, 7, 6, 5, 4, 3, 2, 1], float)
SPRINT_POINTS_2021 = np.array([3, 2, 1], float)
# Standings position texts of a classification that cannot take the title: excluded (McLaren's
# constructors' entry in 2007) or disqualified (Michael Schumacher's drivers' entry in 1997).
INELIGIBLE = {"E", "D"}
FIRST_CONSTRUCTORS_SEASON = 1958


class SeasonWithoutRaces(NotFound):
    """The season has no race on the calendar: a NotFound (the API's 404, the site's 404 page), its
    own type so the championship page can show the season's standings without a simulation, and so
    a ValueError from the engine (a bug) is never mistaken for "unknown season"."""

    def __init__(self, message: str) -> None:
        super().__init__(message, what="season")


def title_odds_simulate(
    strengths: np.ndarray,
    current: np.ndarray,
    teams: np.ndarray,
    *,
    races: int,
    n_sims: int,
    seed: int = 0,
    team_current: dict | None = None,
    entrant: np.ndarray | None = None,
    eligible: np.ndarray | None = None,
    team_eligible: dict | None = None,
    sprints: int = 0,
    sprint_points: np.ndarray = SPRINT_POINTS,
) -> dict:
    """Pure: simulate `races` Plackett–Luce races among the entrants (`entrant`, default everyone)
    with `strengths`, and `sprints` sprints (each its own draw, `sprint_points`), adding the points
    to `current` (every driver in the table, entrants or not).
    `teams[i]` is the team driver i's simulated points go to; a team's total is `team_current[team]`
    (its standings points; default the sum of its drivers' `current`) plus those simulated points.
    Drivers / teams not `eligible` keep their points but cannot take the title. Ties for the title
    split the probability (count-back is not simulated)."""
    rng = np.random.default_rng(seed)
    n = len(strengths)
    entrant = np.ones(n, bool) if entrant is None else np.asarray(entrant, bool)
    eligible = np.ones(n, bool) if eligible is None else np.asarray(eligible, bool)
    idx = np.flatnonzero(entrant)
    m = len(idx)
    total = np.tile(current.astype(float), (n_sims, 1))
    gained = np.zeros((n_sims, n))
    for count, points in ((races, POINTS), (sprints, sprint_points)):
        table = np.zeros(m)
        table[: min(m, len(points))] = points[: min(m, len(points))]
        for _ in range(count):
            order = np.argsort(-(strengths[idx][None, :] + rng.gumbel(size=(n_sims, m))), axis=1)
            pts = np.zeros((n_sims, m))
            np.put_along_axis(pts, order, np.broadcast_to(table, (n_sims, m)), axis=1)
            gained[:, idx] += pts
    total += gained
    champ = _title_shares(total, eligible)
    if team_current is None:
        team_current = {t: float(current[teams == t].sum()) for t in np.unique(teams)}
    team_ids = np.array(sorted(set(team_current) | set(np.unique(teams[entrant]).tolist())))
    team_total = np.stack(
        [team_current.get(t, 0.0) + gained[:, teams == t].sum(axis=1) for t in team_ids], axis=1
    )
    team_ok = np.array([(team_eligible or {}).get(t, True) for t in team_ids], bool)
    return {
        "driver_title": champ.mean(axis=0),
        "driver_expected": total.mean(axis=0),
        "team_ids": team_ids,
        "team_current": np.array([team_current.get(t, 0.0) for t in team_ids]),
        "team_title": _title_shares(team_total, team_ok).mean(axis=0),
        "team_expected": team_total.mean(axis=0),
    }


def _title_shares(total: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    scored = np.where(eligible[None, :], total, -np.inf)
    best = scored.max(axis=1, keepdims=True)
    won = (scored == best) & eligible[None, :]
    return won / np.maximum(won.sum(axis=1, keepdims=True), 1)


@dataclass
class Table:
    """Points of a season after its completed rounds: stored standings plus the race and sprint
    points of any completed round the standings do not reach yet."""

    points: dict[int, float]
    position_text: dict[int, str]
    position: dict[int, int | None]


def _standings(
    season: int, done: list[Race], model, key: str, results_key: str, sprints_run: list[Race] = ()
) -> Table:
    """`sprints_run`: remaining rounds whose sprint has been run (results stored) while their Grand
    Prix has not: those sprint points are real and count, as the points of a completed round the
    standings do not reach yet do (only those after the standings' round)."""
    last = (
        model.objects.filter(race__season_id=season, race__in=done)
        .order_by("-race__round")
        .values_list("race_id", flat=True)
        .first()
    )
    points: dict[int, float] = {}
    texts: dict[int, str] = {}
    positions: dict[int, int | None] = {}
    after_round = 0
    if last is not None:
        after_round = next(r.round for r in done if r.id == last)
        for ident, pts, pos, text in model.objects.filter(race_id=last).values_list(
            key, "points", "position", "position_text"
        ):
            points[ident] = float(pts)
            positions[ident] = pos
            texts[ident] = text
    later_sprints = [r for r in sprints_run if r.round > after_round]
    for source, races in (
        (RaceResult, [r for r in done if r.round > after_round]),
        (SprintResult, [r for r in done if r.round > after_round] + later_sprints),
    ):
        for ident, pts in (
            source.objects.filter(race__in=races)
            .values(results_key)
            .annotate(p=Sum("points"))
            .values_list(results_key, "p")
        ):
            points[ident] = points.get(ident, 0.0) + float(pts or 0)
    return Table(points, texts, positions)


def championship_cache_key(*, season: int, clock: datetime | None = None) -> ListKey:
    """The cache entry of a season's championship answer, shared by the API and the page: per
    season and per model version serving (`model_version_serving`), so odds a stand-in simulated
    while the active artifact was broken are not served once it is repaired, and with no loadable
    model the next reader gets the 503, not a cached 200. One version lookup (2 queries, an
    artifact stat) per request.

    `clock`: the championship as of a past clock (the page's `?as_of=`) — an entry of its own per
    clock (`…:at:<clock>`, one spelling per moment) and per version serving then (`model_bundle_at`:
    registered before the clock and loadable; "none" when there is none), never today's."""
    from f1site.cache import list_key
    from predictions.services.training import ModelUnavailable, NoModelAtClock, model_bundle_at

    if clock is None:
        serving = _serving_label()
        return list_key("championship", season, serving)
    try:
        serving = model_bundle_at(clock=clock)[0].label
    except (NoModelAtClock, ModelUnavailable):
        serving = "none"
    return list_key("championship", season, serving, f"at:{clock_to_text(clock=clock)}")


def _serving_label() -> str:
    from predictions.services.training import model_version_serving

    serving = model_version_serving()
    return serving.label if serving is not None else "none"


def championship_simulate(
    *,
    season: int,
    n_sims: int = 5000,
    before_simulating: Callable[[], None] | None = None,
    clock: datetime | None = None,
) -> dict:
    """The season's championship. A completed season (every round has results) is its stored final
    standings (drivers' and constructors', position 1 the champion; no model needed). Otherwise the
    rest of the season is simulated with the active models (pre-qualifying stage) on top of the
    stored standings after the latest completed round: every driver and team that has scored keeps
    its points (drivers no longer racing included), team totals are the constructors' standings
    (not the sum of the current drivers), and the remaining rounds add simulated points for the
    next race's entrants.

    Simplifications, stated: every remaining round uses the strengths predicted for the next race
    (form features cannot know the results in between), for the Grand Prix and, on a sprint
    weekend (`Race.sprint_start` set), a sprint drawn on its own; points are the
    25-18-15-12-10-8-6-4-2-1 table and the sprint's 8-7-…-1 (3-2-1 in 2021), no fastest-lap point.
    There is no constructors' table before 1958.

    `before_simulating`: called once, only when the season has rounds left and is about to be
    simulated (before today's model is loaded; at a clock, once the model serving then is found) —
    the API and page charge the client's 'expensive' budget there, so a completed season's stored
    standings are never charged.

    `clock`: the championship as of a past clock — the season's calendar cut there: the completed
    rounds are those with results known by then (`race_results_known`, the race lists' rule: its start
    plus three hours), the remaining ones every round after the latest of them, as without a clock:
    not started by then, being run then (its results stored since: still to come as of then), or run
    without results stored (awaiting them); a round before the latest completed one without results
    stored counts as decided (the standings after that round hold its points); a remaining round's sprint counts once its results were known by then
    (`ingestion.selectors.session_results_known`: not while it was run); the model is the one
    serving then (`model_bundle_at`: registered before the clock, never one trained now;
    NoModelAtClock when none had been), and the next race's entrants and features are as known then
    (`race_entries(clock=)`, `race_features_build(clock=)`: `features.clock.frames_known_at`), or —
    the next race being run then — as known at its start (its own prediction's cut-off). The same
    seed as today's.
    """

    races = list(Race.objects.on_calendar().filter(season_id=season).order_by("round"))
    if not races:
        raise SeasonWithoutRaces(f"no races in season {season}")
    with_results = set(
        RaceResult.objects.filter(race__season_id=season).values_list("race_id", flat=True).distinct()
    )
    # Completed: results stored (and, at a clock, known by then). Every round after the latest
    # completed one is still to be decided, whatever the reason: not started, being run, or run and
    # awaiting results. Until 2026-11-28 a clock dropped the last kind — a round run by then whose
    # results are still not stored was neither counted nor simulated (review: 14 such 2026 rounds
    # gave 2 simulated races at a clock minutes after the no-clock page's 16).
    completed_rounds = [
        r.round
        for r in races
        if r.id in with_results and (clock is None or race_results_known(race=r, as_of=clock))
    ]
    # A round before the latest completed one is decided even without results stored (rejected by
    # validation, a failed sync): the standings after the latest round already hold its points, so
    # drawing it again counted them twice (review: Verstappen's 18 Canada points, 2025).
    decided_through = max(completed_rounds, default=0)
    done = [r for r in races if r.round <= decided_through]
    remaining = [r for r in races if r.round > decided_through]
    # A remaining round whose sprint is run (the Saturday evening of a sprint weekend): its sprint
    # points are real, added to the standings, and only its Grand Prix is left to simulate.
    sprint_run_ids = set(
        SprintResult.objects.filter(race__in=remaining).values_list("race_id", flat=True).distinct()
    )
    if clock is not None:  # a sprint run since the clock, or being run at it, was still to come then
        sprint_run_ids = {
            r.id
            for r in remaining
            if r.id in sprint_run_ids and "sprint" in session_results_known(race=r, clock=clock)
        }
    sprints_run = [r for r in remaining if r.id in sprint_run_ids]
    drivers = _standings(season, done, DriverStanding, "driver_id", "driver_id", sprints_run)
    has_constructors = season >= FIRST_CONSTRUCTORS_SEASON
    teams = (
        _standings(season, done, TeamStanding, "team_id", "team_id", sprints_run)
        if has_constructors
        else Table({}, {}, {})
    )
    latest_team = dict(
        RaceResult.objects.filter(race__in=done).order_by("race__date").values_list("driver_id", "team_id")
    )
    if not remaining:
        return _final_standings(season, drivers, teams, latest_team, has_constructors)

    from predictions.ml.models import race_predict, race_strength_inputs
    from predictions.services.predicting import race_entries, race_features_build
    from predictions.services.training import model_bundle_at, model_bundle_load

    if clock is not None:  # found first: "no model then" is an answer, never charged as a simulation
        version, bundle = model_bundle_at(clock=clock)
    if before_simulating is not None:
        before_simulating()
    if clock is None:
        version, bundle = model_bundle_load()
    sprints = [r for r in remaining if r.sprint_start is not None and r.id not in sprint_run_ids]
    # the next race as known at the clock, or at its start when it is being run then: a race's own
    # prediction is cut at its start, never fed its own race (`race_entries` would take its results)
    at = None if clock is None else min(clock, race_pre_race_cutoff(race=remaining[0]))
    entries, _ = race_entries(race=remaining[0], clock=at)
    rows = race_features_build(race=remaining[0], entries=entries, frames=None, clock=at)
    models = bundle.stages["pre"]
    out = race_predict(models, rows, explain=0, n_sims=200)
    strengths_of = dict(
        zip(
            out["driver_id"].astype(int),
            models.ranking.strength(race_strength_inputs(models, rows)),
            strict=True,
        )
    )
    entrant_team = dict(zip(out["driver_id"].astype(int), out["team_id"].astype(int), strict=True))
    driver_ids = sorted(set(drivers.points) | set(entrant_team))
    team_of = {d: entrant_team.get(d, latest_team.get(d)) for d in driver_ids}
    sim = title_odds_simulate(
        np.array([float(strengths_of.get(d, 0.0)) for d in driver_ids]),
        np.array([drivers.points.get(d, 0.0) for d in driver_ids]),
        np.array([team_of[d] if team_of[d] is not None else -1 for d in driver_ids]),
        races=len(remaining),
        sprints=len(sprints),
        sprint_points=SPRINT_POINTS_2021 if season == 2021 else SPRINT_POINTS,
        n_sims=n_sims,
        team_current=(
            {t: p for t, p in teams.points.items()}
            | {t: teams.points.get(t, 0.0) for t in entrant_team.values()}
            if has_constructors
            else {}
        ),
        entrant=np.array([d in entrant_team for d in driver_ids]),
        eligible=np.array([drivers.position_text.get(d) not in INELIGIBLE for d in driver_ids]),
        team_eligible={t: teams.position_text.get(t) not in INELIGIBLE for t in teams.points},
    )
    driver_rows = [
        {
            "driver": d,
            "team": team_of[d],
            "current_points": drivers.points.get(d, 0.0),
            "expected_points": round(float(e), 1),
            "title_probability": round(float(p), 4),
        }
        for d, e, p in zip(driver_ids, sim["driver_expected"], sim["driver_title"], strict=True)
    ]
    team_rows = (
        [
            {
                "team": int(t),
                "current_points": float(c),
                "expected_points": round(float(e), 1),
                "title_probability": round(float(p), 4),
            }
            for t, c, e, p in zip(
                sim["team_ids"], sim["team_current"], sim["team_expected"], sim["team_title"], strict=True
            )
        ]
        if has_constructors
        else []
    )
    return _payload(
        season,
        remaining=[r.slug for r in remaining],
        n_sims=n_sims,
        model_version=version.label,
        driver_rows=driver_rows,
        team_rows=team_rows,
        drivers=drivers,
        teams=teams,
        note=(
            (
                "current points are the stored standings after the latest completed round (every "
                "driver and team that has scored)"
                if clock is None
                else "current points are the stored standings after the latest round whose results were "
                f"known by {clock_display(clock=clock)} (every driver and team that had scored by then)"
            )
            + (
                f" plus the sprint already run at {', '.join(_race_place(r) for r in sprints_run)}"
                if sprints_run
                else ""
            )
            + (
                "; the remaining rounds add simulated points for the next race's entrants"
                if clock is None
                else "; the rounds without results known by then (not started, being run or awaiting "
                "results) add simulated points "
                "for the next race's entrants as known then (their strengths from what was known then)"
            )
            + f", Grand Prix points and {_sprint_words(sprints)}; team points are the "
            "constructors' standings plus their entrants' simulated points"
        ),
    )


def _race_place(race: Race) -> str:
    return race.name.removesuffix(" Grand Prix")


def _sprint_words(sprints: list[Race]) -> str:
    if not sprints:
        return "no sprint (none left on the calendar)"
    names = ", ".join(_race_place(r) for r in sprints)
    return (
        f"sprint points on the {len(sprints)} sprint weekend{'s' if len(sprints) > 1 else ''} left ({names})"
    )


def _final_standings(season, drivers: Table, teams: Table, latest_team, has_constructors) -> dict:
    """A completed season: the stored final standings, the champion = standings position 1."""

    def row(ident, table, **extra):
        points = table.points.get(ident, 0.0)
        return {
            **extra,
            "current_points": points,
            "expected_points": points,
            "title_probability": 1.0 if table.position.get(ident) == 1 else 0.0,
        }

    return _payload(
        season,
        remaining=[],
        n_sims=0,
        model_version=None,
        driver_rows=[row(d, drivers, driver=d, team=latest_team.get(d)) for d in drivers.points],
        team_rows=[row(t, teams, team=t) for t in teams.points] if has_constructors else [],
        drivers=drivers,
        teams=teams,
        note="the season is over: final standings as stored (no simulation)",
    )


def _payload(
    season, *, remaining, n_sims, model_version, driver_rows, team_rows, drivers: Table, teams: Table, note
) -> dict:
    names = {d.id: d for d in Driver.objects.filter(id__in=[r["driver"] for r in driver_rows])}
    team_ids = {r["team"] for r in team_rows} | {r["team"] for r in driver_rows if r["team"] is not None}
    team_names = {t.id: t for t in Team.objects.filter(id__in=list(team_ids))}

    def order(table: Table, ident: int, r: dict):
        pos = table.position.get(ident)
        pos = pos if pos is not None else 10_000
        if not remaining:  # final standings: their own order (an excluded entry is listed last)
            return (pos, -r["expected_points"])
        return (-r["title_probability"], -r["expected_points"], pos)

    out_drivers = sorted(
        (
            {
                "driver": names[r["driver"]].ref,
                "driver_name": names[r["driver"]].full_name,
                "team": team_names[r["team"]].ref if r["team"] is not None else None,
                "current_points": r["current_points"],
                "expected_points": r["expected_points"],
                "title_probability": r["title_probability"],
                "excluded": drivers.position_text.get(r["driver"]) in INELIGIBLE,
                "_order": order(drivers, r["driver"], r),
            }
            for r in driver_rows
        ),
        key=lambda r: r["_order"],
    )
    out_teams = sorted(
        (
            {
                "team": team_names[r["team"]].ref,
                "team_name": team_names[r["team"]].name,
                "current_points": r["current_points"],
                "expected_points": r["expected_points"],
                "title_probability": r["title_probability"],
                "excluded": teams.position_text.get(r["team"]) in INELIGIBLE,
                "_order": order(teams, r["team"], r),
            }
            for r in team_rows
        ),
        key=lambda r: r["_order"],
    )
    for r in (*out_drivers, *out_teams):
        del r["_order"]
    return {
        "season": season,
        "remaining_races": remaining,
        "n_sims": n_sims,
        "model_version": model_version,
        "drivers": out_drivers,
        "teams": out_teams,
        "note": note,
    }
