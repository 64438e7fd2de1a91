"""Read-side queries of the prediction engine (keyword-only; used by the API, pages and commands).

What a clock `as_of` (default now; settable for demos and backtests) sees of a race — started,
results known, its status — is the F1 data's rule (`ingestion.selectors`: `race_started`,
`race_results_known`, `race_completed`, `race_status`, `races_with_results_known_by`; README
"Clock"): the race lists below and the prediction sets shown follow it.

Upcoming = the first `limit` races not started, plus the race started on the clock's day without
results known yet (being run or just run: the home page keeps its card, with the predictions to follow it
by, while its status is already awaiting_results); awaiting results (the list) = races without
results known dated before the clock's day, so a race is never in both lists; recent = the last
`limit` completed races. With a past clock, a race run since then counts as scheduled (it was, as of that
clock). Every list here
holds only races on the calendar (`Race.objects.on_calendar()`): a race upstream no longer lists
is never upcoming, awaiting results or among the recent ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from django.db.models import Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from ingestion.models import Race, RaceResult
from ingestion.selectors import (
    race_completed,
    race_pre_race_cutoff,
    race_qualifying_time,
    race_results_known,
    race_session_results_known_at,
    race_status,
    results_known_by_q,
    started_by_q,
)
from predictions.features.registry import feature_catalogue_rows
from predictions.models import (
    BacktestRun,
    BacktestStatus,
    ModelVersion,
    Prediction,
    PredictionStage,
    RaceAccuracy,
)


def _today(as_of: datetime | None):
    """The clock's UTC day (a race's `date` is its UTC day; `ingestion.selectors.started_by_q` reads the clock the same
    way): 01:00 at +06:00 is the day before in UTC."""
    if isinstance(as_of, datetime) or as_of is None:
        return (as_of or timezone.now()).astimezone(UTC).date()
    return as_of


def _races_with_results() -> QuerySet[Race]:
    return (
        Race.objects.on_calendar()
        .select_related("circuit")
        .annotate(has_results=Exists(RaceResult.objects.filter(race=OuterRef("pk"))))
    )


def race_list_upcoming(*, as_of: datetime | None = None, limit: int = 3, live: bool = False) -> list[Race]:
    """Not started by the clock, or started on the clock's day without results known yet (being
    run, or just run). `live`: `as_of` is the pipeline's now (the daily job's clock, read before it
    stored the results it just synced), not a past view: the results stored count as known, so a
    race started on the clock's day whose results are in is no longer upcoming, however soon after
    its start (the 06:00 job after a 04:00 race whose results came at 05:30). Only the results
    stored decide it, not the real clock: the job's clock stays the one clock (a race not started
    by it is upcoming either way)."""
    today = _today(as_of)
    # a view at a clock sees results only from start + RACE_RESULTS_DELAY; the pipeline sees the
    # results it has stored, since it cannot have stored any before the race was run
    completed = Q(has_results=True) if live else Q(has_results=True) & results_known_by_q(as_of)
    qs = _races_with_results().filter(~started_by_q(as_of) | Q(date=today) & ~completed)
    return list(qs.order_by("date", "round")[:limit])


def race_list_recent_completed(*, as_of: datetime | None = None, limit: int = 3) -> list[Race]:
    qs = _races_with_results().filter(results_known_by_q(as_of), has_results=True).order_by("-date", "-round")
    return list(qs[:limit])


def race_list_awaiting_results(*, as_of: datetime | None = None) -> list[Race]:
    # without results known by the clock: at a past clock also a race stored now but still being run
    # then (one that began late in the day before the clock's)
    known = results_known_by_q(as_of)
    qs = _races_with_results().filter(~(Q(has_results=True) & known), date__lt=_today(as_of))
    latest_completed = _races_with_results().filter(known, has_results=True).order_by("-date").first()
    if latest_completed is not None:
        # the season of the latest completed race and later: a race of it left without results
        # (rejected by validation, a failed sync) while later rounds have theirs is still awaiting
        # them; a gap in an older season is a hole in the history, not a race fans wait for
        qs = qs.filter(season_id__gte=latest_completed.season_id)
    return list(qs.order_by("date", "round"))


# Why `race_list_post_qualifying_due` lists a race.
POST_QUALIFYING_MISSING = "no post-qualifying set made since qualifying"
POST_QUALIFYING_CHANGED = "qualifying changed by this run's sync"


def race_list_post_qualifying_due(
    *, as_of: datetime, changed_race_ids: Iterable[str] = ()
) -> list[tuple[Race, str]]:
    """(race, why) for the races whose post-qualifying set is due as of `as_of` (the pipeline's
    fallback when the live job did not make it: OpenF1 down or late over qualifying). A race is due
    when it is on the calendar, has not started by `as_of` (`started_by_q`, not results known: the
    stage is a prediction, never a set made after the start), has no results, has its qualifying stored and begun by `as_of`, and either has no
    post-qualifying set made since qualifying began — none at all, when the calendar has no
    qualifying start — (`POST_QUALIFYING_MISSING`; only sets that can be current count,
    `Prediction.objects.current_candidates`) or is among `changed_race_ids`, the
    races whose rows the caller's sync just changed (`POST_QUALIFYING_CHANGED`: a set made from
    OpenF1's classification is redone from Jolpica's; the refresh stores nothing when the inputs
    came out the same). One query, plus one per race found (0-1 on a race weekend)."""
    from ingestion.models import QualifyingResult

    candidates = (
        Race.objects.on_calendar()
        .filter(~started_by_q(as_of))
        .filter(Exists(QualifyingResult.objects.filter(race=OuterRef("pk"))))
        .exclude(Exists(RaceResult.objects.filter(race=OuterRef("pk"))))
        .order_by("date", "round")
    )
    changed = set(changed_race_ids)
    due = []
    for race in candidates:
        # begun, not results known (`session_results_known_at`): the pipeline asks as of now, when the
        # rows stored are the results (published, so known); waiting for the two-hour cap would only
        # hold the fallback back
        begun = race_qualifying_time(race=race)
        if begun >= as_of:  # strictly before the clock, as `sessions_known`
            continue  # rows stored ahead of the clock (a past clock): not qualified yet as of then
        made = Prediction.objects.current_candidates().filter(
            race=race, stage=PredictionStage.POST_QUALIFYING
        )
        if race.qualifying_start is not None:
            made = made.filter(created_at__gte=begun)
        # Without a qualifying start `begun` is midnight UTC of race day, after a set the live job
        # made on Saturday: every race-day run would queue the refresh again (which, inputs
        # unchanged, stores nothing). Any current post-qualifying set counts then: the stage needs
        # the grid (`race_stage_check`), so it was made from the stored qualifying, and rows changed
        # since come in `changed_race_ids`.
        made = made.exists()
        if not made:
            due.append((race, POST_QUALIFYING_MISSING))
        elif race.slug in changed:
            due.append((race, POST_QUALIFYING_CHANGED))
    return due


def prediction_list_current(*, race: Race) -> dict[str, list[Prediction]]:
    """Stage -> the latest prediction set for that stage (ordered by predicted position); a set
    computed at a past clock is never current (`Prediction.objects.current_candidates`)."""
    out: dict[str, list[Prediction]] = {}
    batches = _latest_batches(race)
    if not batches:
        return out
    rows = (
        Prediction.objects.filter(batch__in=batches.values())
        .select_related("driver", "team", "model_version")
        .order_by("stage", "predicted_position")
    )
    for p in rows:
        out.setdefault(p.stage, []).append(p)
    return {s: out[s] for s in PredictionStage.values if s in out}


def _latest_batches(race: Race) -> dict[str, str]:
    out = {}
    for stage in PredictionStage.values:
        batch = (
            Prediction.objects.current_candidates()
            .filter(race=race, stage=stage)
            .order_by("-created_at", "-id")
            .values_list("batch", flat=True)
            .first()
        )
        if batch:
            out[stage] = batch
    return out


def prediction_sets_shown(*, races: list[Race], as_of: datetime | None = None) -> dict[int, dict]:
    """race id -> {"predictions": {stage: rows by predicted position}, "accuracy": {stage: record}}:
    the sets the pages show, in three queries whatever the number of races (four when `races` are
    not annotated with `has_results`).

    * A race completed as of the clock: per stage the set its newest accuracy record scored, so the
      numbers and the predicted order on a card come from one set; unscored, the set the scoring
      would take (made before the start, else the latest backfill); with neither, the newest set.
    * Any other race: the newest set ("current").

    A set computed at a past clock (`Prediction.clock`) is never shown: it is not what the site
    predicted at the time, and scoring never takes it.

    With a clock (`as_of`, a past view), only sets made (`created_at`) at or before it count, only
    accuracy scored at or before it, and the post-qualifying stage only once qualifying's results
    were known (`race_session_results_known_at`: its start plus two hours, not while it was held —
    the grid such a set is built from, which the page shows beside it, was not known before). Each row gets `made_after_race`: created at or after the race start
    (its set is no pre-race prediction; templates label it, as they label `backfilled`)."""

    out: dict[int, dict] = {r.pk: {"predictions": {}, "accuracy": {}} for r in races}
    if not races:
        return out
    by_id = {r.pk: r for r in races}
    if all(hasattr(r, "has_results") for r in races):
        with_results = {r.pk for r in races if r.has_results}
    else:
        with_results = set(
            RaceResult.objects.filter(race__in=races).values_list("race_id", flat=True).distinct()
        )
    # The race lists' rule (results known by the clock, not dated on or before its day): on race day
    # before the start and while it is run a race is upcoming there, so it shows its newest set here
    # too.
    completed = {pk for pk in with_results if race_completed(race=by_id[pk], has_results=True, as_of=as_of)}
    sets = Prediction.objects.current_candidates().filter(race__in=races)
    if as_of is not None:
        sets = sets.filter(created_at__lte=as_of)
    candidates: dict[tuple[int, str], list[tuple]] = {}
    for race_id, stage, batch, backfilled, created, cut in (
        sets.values_list("race_id", "stage", "batch", "backfilled")
        .annotate(created=Max("created_at"), cut=Max("as_of"))
        .order_by()
    ):
        race = by_id[race_id]
        # the post-qualifying set only once qualifying's results were known by the clock, as
        # `session_results_known` shows the grid
        if (
            stage == "post"
            and as_of is not None
            and as_of < race_session_results_known_at(race=race)["qualifying"]
        ):
            continue
        candidates.setdefault((race_id, stage), []).append((created, batch, backfilled, cut))
    scored: dict[tuple[int, str], RaceAccuracy] = {}
    if completed:
        records = RaceAccuracy.objects.filter(race_id__in=completed).select_related("model_version")
        if as_of is not None:
            records = records.filter(scored_at__lte=as_of)
        for rec in records.order_by("race_id", "stage", "-scored_at"):
            scored.setdefault((rec.race_id, rec.stage), rec)
    chosen: dict[str, tuple[int, str]] = {}
    for (race_id, stage), options in candidates.items():
        options.sort(key=lambda o: o[0], reverse=True)  # newest first
        batch = options[0][1]
        if race_id in completed:
            cutoff = race_pre_race_cutoff(race=by_id[race_id])
            record = scored.get((race_id, stage))
            in_view = {o[1] for o in options}
            live = [o for o in options if not o[2] and o[0] < cutoff and o[3] < cutoff]
            honest = [o for o in options if o[2]]
            if record is not None and record.batch in in_view:
                batch = record.batch
            elif live or honest:
                batch = (live or honest)[0][1]
        chosen[batch] = (race_id, stage)
    for batch, (race_id, stage) in chosen.items():
        record = scored.get((race_id, stage))
        if record is not None and record.batch == batch:  # never one set's numbers on another
            out[race_id]["accuracy"][stage] = record
    if not chosen:
        return out
    rows = (
        Prediction.objects.filter(batch__in=list(chosen))
        .select_related("driver", "team", "model_version")
        .order_by("race_id", "stage", "predicted_position")
    )
    for p in rows:
        p.made_after_race = p.created_at >= race_pre_race_cutoff(race=by_id[p.race_id])
        out[p.race_id]["predictions"].setdefault(p.stage, []).append(p)
    for entry in out.values():
        entry["predictions"] = {
            s: entry["predictions"][s] for s in PredictionStage.values if s in entry["predictions"]
        }
    return out


def race_accuracy_get(*, race: Race, as_of: datetime | None = None) -> dict[str, RaceAccuracy] | None:
    """Stage -> the latest accuracy record (its model version with it); None when the race has no
    results yet.

    `as_of`: a past clock — as the race page shows accuracy then (`prediction_sets_shown`): None
    unless the race was completed by then (`race_completed`: results stored and known by the
    clock), and only records scored (`scored_at`) at or before it."""
    if as_of is not None and not race_results_known(race=race, as_of=as_of):
        return None  # no results yet at the clock, whatever is stored now (no query)
    if not RaceResult.objects.filter(race=race).exists():
        return None
    records = RaceAccuracy.objects.filter(race=race).select_related("model_version")
    if as_of is not None:
        records = records.filter(scored_at__lte=as_of)
    out = {}
    for rec in records.order_by("stage", "-scored_at"):
        out.setdefault(rec.stage, rec)
    return out


def model_version_active() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


# The period the README's headline backtest is measured on (`backtest --seasons 2022-2025`): a run
# over other seasons (a weekly season-so-far evaluation, a quick 7-race check) is no headline.
BACKTEST_STANDARD_SEASONS = [2022, 2023, 2024, 2025]


def backtest_headlines(*, as_of: datetime | None = None) -> dict[str, BacktestRun]:
    """Stage -> the backtest to headline, post-qualifying first: the latest succeeded run of the
    stage over BACKTEST_STANDARD_SEASONS, else the stage's latest succeeded run (callers label its
    seasons). Two queries: the candidates' headers, then the chosen runs with their results.
    `as_of`: a past clock — only runs created and finished before it (`model_versions_at`'s rule;
    created before it when no `finished_at` is recorded): a run started before the clock and
    finished after it had no results then."""
    succeeded = BacktestRun.objects.filter(status=BacktestStatus.SUCCEEDED)
    if as_of is not None:
        succeeded = succeeded.filter(
            Q(finished_at__lt=as_of) | Q(finished_at__isnull=True), created_at__lt=as_of
        )
    latest: dict[str, tuple[bool, int]] = {}
    for pk, stage, seasons in succeeded.order_by("-created_at", "-id").values_list("pk", "stage", "seasons"):
        standard = sorted(seasons or []) == BACKTEST_STANDARD_SEASONS
        if stage not in latest or (standard and not latest[stage][0]):
            latest[stage] = (standard, pk)
    if not latest:
        return {}
    runs = BacktestRun.objects.in_bulk([pk for _, pk in latest.values()])
    return {s: runs[latest[s][1]] for s in ("post", "pre") if s in latest}


def feature_catalogue() -> list[dict]:
    """name, group, description, source, available_pre_qualifying — from the feature registry."""
    return feature_catalogue_rows()


def race_results_list(*, race: Race) -> list[RaceResult]:
    return list(
        RaceResult.objects.filter(race=race, shared_car_index=0)
        .select_related("driver", "team", "status")
        .order_by("position_order")
    )


def prediction_overview(*, as_of: datetime | None = None) -> dict:
    """The "next 3 / past 3" view: upcoming races with their current predictions, the last three
    completed races with the scored set's predicted-vs-actual and accuracy (`prediction_sets_shown`),
    and races awaiting results."""
    upcoming = [
        # scheduled, or awaiting results for the race started on the clock's day (no query)
        {
            "race": r,
            "status": race_status(race=r, as_of=as_of, has_results=r.has_results),
            "predictions": prediction_list_current(race=r),
        }
        for r in race_list_upcoming(as_of=as_of)
    ]
    recent = []
    completed = race_list_recent_completed(as_of=as_of)
    # The scored sets, not the newest; as stored now (the clock only picks the races here, unlike
    # the home page's past view).
    shown = prediction_sets_shown(races=completed)
    for r in completed:
        predictions = shown[r.pk]["predictions"]
        results = race_results_list(race=r)
        actual = {res.driver_id: res for res in results}
        recent.append(
            {
                "race": r,
                "status": "completed",
                "predictions": predictions,
                "results": results,
                "predicted_vs_actual": {
                    stage: [
                        {
                            "prediction": p,
                            "actual_position": actual[p.driver_id].position_order
                            if p.driver_id in actual
                            else None,
                        }
                        for p in rows
                    ]
                    for stage, rows in predictions.items()
                },
                "accuracy": shown[r.pk]["accuracy"],
            }
        )
    awaiting = [
        {"race": r, "status": "awaiting_results", "predictions": prediction_list_current(race=r)}
        for r in race_list_awaiting_results(as_of=as_of)
    ]
    return {
        "as_of": as_of or timezone.now(),
        "upcoming": upcoming,
        "recent": recent,
        "awaiting_results": awaiting,
    }


def race_prediction_unavailable(*, race: Race) -> str | None:
    """Why `race` cannot be predicted (nor what-if'd), or None when it can: no history before
    HISTORY_FROM_SEASON, or no longer on the calendar upstream without results. No query (one for
    a race removed upstream)."""
    from predictions.services.predicting import (
        PredictionInputError,
        race_in_history_check,
        race_on_calendar_check,
    )

    try:
        race_in_history_check(race=race)
        race_on_calendar_check(race=race)
    except PredictionInputError as exc:
        return str(exc)
    return None


def what_if_unavailable_at(*, race: Race, as_of: datetime) -> str | None:
    """Why `race` has no what-if as of the past clock `as_of`, or None when it has one: the race had
    started by then, the clock is one `predict --as-of` refuses (too early for the race), or no model
    had been trained by then (`services.predicting.what_if_clock_check`). One query at most."""
    from predictions.services.predicting import PredictionInputError, what_if_clock_check
    from predictions.services.training import NoModelAtClock

    try:
        what_if_clock_check(race=race, as_of=as_of)
    except (PredictionInputError, NoModelAtClock) as exc:
        return str(exc)
    return None
