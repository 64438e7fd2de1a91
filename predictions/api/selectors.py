"""JSON-ready payloads for the /api/v1 prediction endpoints, built on predictions.selectors."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from django.utils import timezone

from ingestion.api.selectors import race_brief, sql_datetime, sql_rows
from ingestion.models import Race, RaceResult
from ingestion.selectors import race_completed, race_status, race_status_now
from predictions import selectors as engine
from predictions.models import ModelVersion, Prediction, PredictionStage

if TYPE_CHECKING:  # a read: the services' lookup is the caller's (the view)
    from predictions.services.training import ServingAt


def race_ref(*, race: Race, status: str | None = None) -> dict:
    if status is None:
        has_results = RaceResult.objects.filter(race=race).exists()
        status = race_status_now(
            race_date=race.date,
            start=race.start,
            has_results=has_results,
            removed=race.removed_upstream_at is not None,
        )
    return {**race_brief(race=race), "start": race.start, "status": status}


def _explanation(items) -> list[dict]:
    # A loop, not a comprehension with repeated .get() calls: ~10 entries x 20 drivers x stages
    # per payload made this the largest Python cost of the uncached upcoming endpoint.
    out = []
    for e in items or ():
        if isinstance(e, dict):
            value = e.get("value")
            out.append(
                {
                    "feature": str(e.get("feature", "")),
                    "value": value if isinstance(value, (int, float)) else None,
                    "contribution": float(e.get("contribution") or 0.0),
                }
            )
    return out


# The current set per race and stage = the batch of its newest row among the sets not computed at
# a past clock (`clock IS NULL`: Prediction.objects.current_candidates, as
# predictions.selectors.prediction_list_current chooses it), rows by predicted position. The
# set's timestamps come from its first row only (NULL elsewhere): parsing two timestamps per row
# was a fifth of the Python cost. Portable SQL (window functions, an IN list), because the embedded
# SQLite default serves this endpoint too: PostgreSQL's DISTINCT ON and `= ANY(array)` do not
# exist there. `{races}` is one placeholder per race id (only the count comes from the caller).
_CURRENT_ROWS_SQL = """
WITH newest AS (
    SELECT batch, row_number() OVER (
        PARTITION BY race_id, stage ORDER BY created_at DESC, id DESC
    ) AS newest_rank
    FROM predictions_prediction
    WHERE race_id IN ({races}) AND clock IS NULL
), current_rows AS (
    SELECT p.*, row_number() OVER (
        PARTITION BY p.race_id, p.stage ORDER BY p.predicted_position, p.id
    ) AS rank_in_stage
    FROM predictions_prediction p
    WHERE p.batch IN (SELECT batch FROM newest WHERE newest_rank = 1)
)
SELECT p.race_id, p.stage, mv.label,
       CASE WHEN p.rank_in_stage = 1 THEN p.created_at END,
       CASE WHEN p.rank_in_stage = 1 THEN p.as_of END,
       CASE WHEN p.rank_in_stage = 1 THEN p.clock END,
       p.backfilled, d.ref, d.code, d.given_name, d.family_name, t.ref, t.name,
       p.predicted_position, p.expected_position, p.win_probability, p.podium_probability,
       p.points_probability, p.dnf_probability, p.confidence, p.low_confidence, p.explanation
FROM current_rows p
JOIN predictions_modelversion mv ON mv.id = p.model_version_id
JOIN ingestion_driver d ON d.id = p.driver_id
JOIN ingestion_team t ON t.id = p.team_id
ORDER BY p.race_id, p.stage, p.rank_in_stage
"""


def current_rows_sql(*, race_count: int) -> str:
    """`_CURRENT_ROWS_SQL` for `race_count` race ids: a handful of fixed texts (the API asks for one
    race or the next three), so server-side binding still reuses each prepared statement."""
    return _CURRENT_ROWS_SQL.format(races=", ".join(["%s"] * race_count))


def stages_by_race(*, race_ids: list[int]) -> dict[int, list[dict]]:
    """Race pk -> its current prediction stages, in ONE query of plain tuples.

    Model instances for ~20 drivers x stages x races (with driver, team and model version each)
    and the QuerySet compilation dominated the uncached upcoming endpoint.
    """
    if not race_ids:
        return {}
    grouped: dict[int, dict[str, dict]] = {}
    for (
        race_id,
        stage,
        label,
        created_at,
        as_of,
        clock,
        backfilled,
        d_ref,
        d_code,
        d_given,
        d_family,
        t_ref,
        t_name,
        predicted,
        expected,
        win,
        podium,
        points,
        dnf,
        confidence,
        low_confidence,
        explanation,
    ) in sql_rows(current_rows_sql(race_count=len(race_ids)), list(race_ids)):
        stages = grouped.setdefault(race_id, {})
        entry = stages.get(stage)
        if entry is None:  # the stage's first row (best predicted position) describes the set
            entry = stages[stage] = {
                "stage": stage,
                "model_version": label,
                "created_at": sql_datetime(created_at),
                "as_of": sql_datetime(as_of),
                "clock": sql_datetime(clock),
                "backfilled": bool(backfilled),
                "predictions": [],
            }
        if isinstance(explanation, str):  # jsonb arrives as text on Django's connection
            explanation = json.loads(explanation)
        entry["predictions"].append(
            {
                "driver": {"id": d_ref, "code": d_code, "name": f"{d_given} {d_family}"},
                "team": {"id": t_ref, "name": t_name},
                "predicted_position": predicted,
                "expected_position": expected,
                "win_probability": win,
                "podium_probability": podium,
                "points_probability": points,
                "dnf_probability": dnf,
                "confidence": confidence,
                "low_confidence": bool(low_confidence),
                "explanation": _explanation(explanation),
            }
        )
    return {
        race_id: [stages[s] for s in PredictionStage.values if s in stages]
        for race_id, stages in grouped.items()
    }


# Upcoming = the first races dated after today, or today without results yet: the definition of
# predictions.selectors.race_list_upcoming (a test keeps the two in step), as one fixed query.
_UPCOMING_RACES_SQL = """
SELECT r.id, r.slug, r.season_id, r.round, r.name, r.date, r.start FROM ingestion_race r
WHERE r.removed_upstream_at IS NULL
  AND (r.date > %s
       OR (r.date = %s AND NOT EXISTS (SELECT 1 FROM ingestion_raceresult rr WHERE rr.race_id = r.id)))
ORDER BY r.date, r.round
LIMIT %s
"""


def upcoming_race_rows(*, today: dt.date, limit: int) -> list[tuple]:
    """(pk, slug, season, round, name, date, start) of the next `limit` races as of `today`."""
    return sql_rows(_UPCOMING_RACES_SQL, [today, today, limit])


def stages_payload(*, race: Race) -> list[dict]:
    return stages_by_race(race_ids=[race.pk]).get(race.pk, [])


def race_predictions(*, race: Race, status: str | None = None, as_of: dt.datetime | None = None) -> dict:
    """The race's current sets; for a completed race the sets its page shows — the scored ones
    (`engine.prediction_sets_shown`), not a newer set made after the race.

    `as_of`: a past clock — the sets the race page shows at it (`/races/<id>/?as_of=`, the same
    selector): per stage the latest set made by then (for a race completed by then the one scored by
    then, else the one scoring would take), the after-qualifying stage only once qualifying had
    begun; none made by then is `stages: []`, as for a race with none. `status` by the clock
    (`race_status`). 5 queries (the race's results are looked up once, for both)."""
    if as_of is not None:
        race.has_results = RaceResult.objects.filter(race=race).exists()  # prediction_sets_shown reads it
        shown = engine.prediction_sets_shown(races=[race], as_of=as_of)[race.pk]["predictions"]
        return {
            "race": race_ref(
                race=race, status=race_status(race=race, as_of=as_of, has_results=race.has_results)
            ),
            "stages": [_stage_entry(rows) for rows in shown.values()],
        }
    has_results = RaceResult.objects.filter(race=race).exists()
    if race_completed(race=race, has_results=has_results):
        shown = engine.prediction_sets_shown(races=[race])[race.pk]["predictions"]
        stages = [_stage_entry(rows) for rows in shown.values()]
    else:
        stages = stages_payload(race=race)
    return {"race": race_ref(race=race, status=status), "stages": stages}


def upcoming_predictions(*, limit: int = 3) -> dict:
    """The next `limit` races with their current predictions: 2 queries."""
    now = timezone.now()
    races = upcoming_race_rows(today=now.date(), limit=limit)
    stages = stages_by_race(race_ids=[pk for pk, *_ in races])
    return {
        "as_of": now,
        "races": [
            {
                "race": {
                    "id": slug,
                    "season": season,
                    "round": rnd,
                    "name": name,
                    "date": date,
                    "start": sql_datetime(start),
                    # listed without results (the query): scheduled, or awaiting them once started
                    "status": race_status_now(race_date=date, start=sql_datetime(start), has_results=False),
                },
                "stages": stages.get(pk, []),
            }
            for pk, slug, season, rnd, name, date, start in races
        ],
    }


def what_if_payload(*, race: Race, rows: list[dict], as_of: dt.datetime | None = None) -> dict:
    """The what-if answer: each row in the shape of a stored prediction's (`_prediction_row`, so a
    client reads both alike) plus the grid slot it was given; the model version once, as a stored
    set gives it. `as_of`: the clock it was made at — the race's status then (`race_status`)."""
    status = None if as_of is None else race_status(race=race, as_of=as_of)
    return {
        "race": race_ref(race=race, status=status),
        "model_version": rows[0]["model_version"] if rows else None,
        "hindsight": bool(rows and rows[0]["hindsight"]),
        "predictions": [
            {
                "driver": {"id": r["driver"], "code": r["driver_code"], "name": r["driver_name"]},
                "team": {"id": r["team"], "name": r["team_name"]},
                "grid": r["grid"],
                "predicted_position": r["predicted_position"],
                "expected_position": r["expected_position"],
                "win_probability": r["win_probability"],
                "podium_probability": r["podium_probability"],
                "points_probability": r["points_probability"],
                "dnf_probability": r["dnf_probability"],
                "confidence": r["confidence"],
                "low_confidence": r["low_confidence"],
                "explanation": _explanation(r["explanation"]),
            }
            for r in rows
        ],
    }


# --- the overview: the home page's lists for the frontend --------------------------------------
def _prediction_row(p: Prediction) -> dict:
    """One stored row in the shape `stages_by_race` gives it (the upcoming list's rows)."""
    return {
        "driver": {"id": p.driver.ref, "code": p.driver.code, "name": p.driver.full_name},
        "team": {"id": p.team.ref, "name": p.team.name},
        "predicted_position": p.predicted_position,
        "expected_position": p.expected_position,
        "win_probability": p.win_probability,
        "podium_probability": p.podium_probability,
        "points_probability": p.points_probability,
        "dnf_probability": p.dnf_probability,
        "confidence": p.confidence,
        "low_confidence": p.low_confidence,
        "explanation": _explanation(p.explanation),
    }


def _stage_entry(rows: list[Prediction]) -> dict:
    """A set as `stages_by_race` describes it: timestamps from its first row (best position)."""
    first = rows[0]
    return {
        "stage": first.stage,
        "model_version": first.model_version.label,
        "created_at": first.created_at,
        "as_of": first.as_of,
        "clock": first.clock,
        "backfilled": first.backfilled,
        "predictions": [_prediction_row(p) for p in rows],
    }


def _set_label(first: Prediction) -> str:
    # The pages' label (templates/analytics/partials/set_label.html): backfilled wins.
    if first.backfilled:
        return "backfilled"
    return "made_after_race" if first.made_after_race else "pre_race"


def _current_entry(*, race: Race, status: str, shown: dict) -> dict:
    """An upcoming (or awaiting) race with its sets: an item of `predictions/upcoming`."""
    return {
        "race": race_ref(race=race, status=status),
        "stages": [_stage_entry(rows) for rows in shown["predictions"].values()],
    }


def _scored_entry(*, race: Race, shown: dict, results: list[RaceResult]) -> dict:
    """A completed race: each stage's shown set with every row's actual finish, the results, and
    the accuracy record of each shown set (the records `predictions/accuracy/{race_id}` serves)."""
    actual = {res.driver_id: res for res in results}
    stages = []
    for rows in shown["predictions"].values():
        entry = _stage_entry(rows)
        entry["made_after_race"] = rows[0].made_after_race
        entry["label"] = _set_label(rows[0])
        for row, p in zip(entry["predictions"], rows, strict=True):
            res = actual.get(p.driver_id)
            row["actual_position"] = res.position_order if res is not None else None
            row["actual_classified_position"] = res.position if res is not None else None
            row["actual_status"] = res.status.status if res is not None else None
        stages.append(entry)
    return {
        "race": race_ref(race=race, status="completed"),
        "stages": stages,
        "results": [
            {
                "position_order": res.position_order,
                "position": res.position,
                "driver": {"id": res.driver.ref, "code": res.driver.code, "name": res.driver.full_name},
                "team": {"id": res.team.ref, "name": res.team.name},
                "grid": res.grid,
                "status": res.status.status,
            }
            for res in results
        ],
        "accuracy": [
            _accuracy_stage(stage=stage, record=record) for stage, record in sorted(shown["accuracy"].items())
        ],
    }


def _upcoming_status(race: Race, as_of: dt.datetime | None) -> str:
    """An upcoming race's status (`race_list_upcoming`'s races carry `has_results`: no query):
    scheduled, or awaiting results for the race started on the clock's day, which the home page
    still lists among the next races while it is run (README: API)."""
    return race_status(race=race, as_of=as_of, has_results=race.has_results)


def overview_payload(*, as_of: dt.datetime | None = None) -> dict:
    """The home page's view for the frontend, by the clock `as_of` (None = now), with the page's
    own selectors so the two always list the same races and show the same sets:

    * `upcoming`: the next three races (`race_list_upcoming`) with their sets — the items of
      `predictions/upcoming`;
    * `awaiting_results`: races run without results yet (`race_list_awaiting_results`), same shape;
    * `recent`: the last three completed races (`race_list_recent_completed`), each with the set
      per stage the pages show (`prediction_sets_shown`: the scored one), predicted vs actual per
      driver, the results and each shown set's accuracy record.

    With a clock, as on the page: only sets made (and accuracy scored) by then, and the
    after-qualifying stage once qualifying's results were known. Queries: 4 for the lists, 3 for the sets, 1
    for the results, whatever the number of races."""
    upcoming = engine.race_list_upcoming(as_of=as_of)
    recent = engine.race_list_recent_completed(as_of=as_of)
    awaiting = engine.race_list_awaiting_results(as_of=as_of)
    shown = engine.prediction_sets_shown(races=upcoming + recent + awaiting, as_of=as_of)
    results: dict[int, list[RaceResult]] = {}
    if recent:
        # race_results_list's rows (one car per driver, by finishing order) for the three races at once
        for res in (
            RaceResult.objects.filter(race__in=recent, shared_car_index=0)
            .select_related("driver", "team", "status")
            .order_by("race_id", "position_order")
        ):
            results.setdefault(res.race_id, []).append(res)

    return {
        "as_of": as_of or timezone.now(),
        "upcoming": [
            _current_entry(race=r, status=_upcoming_status(r, as_of), shown=shown[r.pk]) for r in upcoming
        ],
        "awaiting_results": [
            _current_entry(race=r, status="awaiting_results", shown=shown[r.pk]) for r in awaiting
        ],
        "recent": [_scored_entry(race=r, shown=shown[r.pk], results=results.get(r.pk, [])) for r in recent],
    }


def upcoming_predictions_as_of(*, as_of: dt.datetime) -> dict:
    """`predictions/upcoming?as_of=`: the overview's `upcoming` (the page's races and sets by that
    clock) in the upcoming list's shape. Without a clock the list is `upcoming_predictions`."""
    upcoming = engine.race_list_upcoming(as_of=as_of)
    shown = engine.prediction_sets_shown(races=upcoming, as_of=as_of)
    return {
        "as_of": as_of,
        "races": [
            _current_entry(race=r, status=_upcoming_status(r, as_of), shown=shown[r.pk]) for r in upcoming
        ],
    }


_ACCURACY_FIELDS = (
    "drivers",
    "mae",
    "mae_finishers",
    "spearman",
    "winner_hit",
    "podium_overlap",
    "points_accuracy",
    "brier_win",
    "brier_podium",
    "brier_points",
)


def _accuracy_stage(*, stage: str, record) -> dict:
    """One RaceAccuracy record as `predictions/accuracy/{race_id}` and the overview show it."""
    return {
        "stage": stage,
        "model_version": record.model_version.label if record.model_version_id else None,
        "backfilled": record.backfilled,
        "scored_at": record.scored_at,
        **{f: getattr(record, f) for f in _ACCURACY_FIELDS},
        "metrics": record.metrics or {},
    }


def race_accuracy(*, race: Race, as_of: dt.datetime | None = None) -> dict | None:
    """None when the race has no results yet; `stages` empty when nothing was scored. `as_of`: a
    past clock — None unless the race was completed by then, only the records scored by then
    (`engine.race_accuracy_get(as_of=)`), so before its scoring the race answers as an unscored one."""
    records = engine.race_accuracy_get(race=race, as_of=as_of)
    if records is None:
        return None
    return {
        "race": race_ref(race=race, status="completed" if race.removed_upstream_at is None else None),
        "stages": [_accuracy_stage(stage=stage, record=rec) for stage, rec in sorted(records.items())],
    }


def championship_season_at_check(*, season: int, as_of: dt.datetime) -> None:
    """NotFound unless `season` had begun by the past clock `as_of`: the championship page's rule
    (`analytics.selectors.season_list(as_of=)`: standings after a race whose results were known by then). One query."""
    from analytics.selectors import season_list
    from f1site.clock import clock_display
    from f1site.errors import NotFound

    if season not in season_list(as_of=as_of):
        raise NotFound(
            f"No championship for {season} as of {clock_display(clock=as_of)}: no race of it had its results known by then",
            what="season",
        )


def _what_if_model(*, serving: ModelVersion | None, at: ServingAt | None) -> dict | None:
    """The version a what-if or championship simulation runs, as the model page says it: at a clock
    (`at`, `model_serving_at`) the first version registered then that can run today, which differs
    from the one serving then when that one's files were pruned since or it was trained on older
    feature definitions (`reason`, the page's sentence; `label` null when none can run). Now (no
    `at`) a what-if loads the version serving now (`model_bundle_load`), so it never differs. None
    when no version serves (none registered by the clock, or none loads now)."""
    if serving is None:
        return None
    if at is None:
        return {"label": serving.label, "differs": False, "reason": ""}
    what_if = at.what_if
    return {
        "label": None if what_if is None else what_if.label,
        "differs": what_if != serving,
        "reason": at.serving_skipped,
    }


def model_performance(
    *, serving: ModelVersion | None, as_of: dt.datetime | None = None, at: ServingAt | None = None
) -> dict:
    """`serving`: the version predictions are made with now (`model_version_serving`): the active
    one, or during a fallback the one standing in for it; None when none loads.

    `as_of`: a past clock — the model page as of then: `serving` is the version serving then
    (`at.serving`, `at` the caller's `model_serving_at(clock=as_of)`), named as the active one too
    (whether its files loaded then is not recorded), and the backtests finished by then
    (`backtest_headlines(as_of=)`)."""
    version = engine.model_version_active() if as_of is None else serving
    # The same runs the /model/ page headlines: a quick 7-race or weekly season-so-far run must not
    # displace the standard 2022-2025 evaluation in what the frontend shows as "the" backtest.
    backtests = {
        stage: {
            "id": run.pk,
            "created_at": run.created_at,
            "seasons": run.seasons,
            "standard_period": sorted(run.seasons or []) == engine.BACKTEST_STANDARD_SEASONS,
            "races": run.races,
            "results": run.results,
        }
        for stage, run in sorted(engine.backtest_headlines(as_of=as_of).items(), reverse=True)  # pre, post
    }
    return {
        "active_model": None
        if version is None
        else {
            "label": version.label,
            "created_at": version.created_at,
            "train_from_season": version.train_from_season,
            "train_until_season": version.train_until_season,
            "trained_until_date": version.trained_until_date,
            "rows": version.rows,
            "features": version.features,
            "metrics": version.metrics,
        },
        "serving_model": None if serving is None else serving.label,
        "what_if_model": _what_if_model(serving=serving, at=at),
        "backtests": backtests,
        "features": engine.feature_catalogue(),
    }
