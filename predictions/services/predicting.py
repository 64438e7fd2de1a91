"""Generating and storing predictions (never overwriting), backfilling, and the what-if grid."""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from f1site.clock import CLOCK_SKEW, clock_display
from ingestion.models import (
    Driver,
    PracticeResult,
    QualifyingResult,
    Race,
    RaceResult,
    SprintResult,
    Team,
)
from ingestion.selectors import (
    PRACTICE_SESSIONS,
    race_pre_race_cutoff,
    race_results_known_at,
    race_session_results_known_at,
    session_results_known,
)
from predictions.features.clock import frames_known_at
from predictions.features.compute import KEY, build_features, target_rows_with_grid
from predictions.features.frames import F1Frames, f1_frames_load, frames_with_pre_race_forecast
from predictions.features.registry import FEATURES
from predictions.ml.models import race_predict
from predictions.models import ModelVersion, Prediction, PredictionStage
from predictions.services.training import (
    HISTORY_FROM_SEASON,
    NoModelAtClock,
    model_bundle_at,
    model_bundle_known_at,
    model_bundle_load,
    model_version_for_season,
)
from predictions.services.what_if import WhatIfBase, what_if_base_get
from predictions.signals import predictions_changed


class PredictionInputError(ValueError):
    """The request cannot be predicted (e.g. post-qualifying before qualifying, a race before 1996, a
    bad what-if grid). Messages do not name the race: callers add it where needed. `details`: data
    for the API's error body (e.g. the offending drivers of a what-if grid)."""

    def __init__(self, message: str, details: dict | None = None):
        super().__init__(message)
        self.details = details or {}


PRACTICE_SESSIONS_LATEST_FIRST = ("FP3", "FP2", "FP1")

_NO_POST_STAGE = "qualifying is not in yet, so there is no post-qualifying stage"


class PredictionClockError(PredictionInputError):
    """A past clock (`as_of` before now) asked for a live prediction of a race that has already been
    run: made now, it would use the model and data that learnt from that race while claiming to be
    from before it. Its honest prediction is a backfill (a model trained only on earlier seasons)."""


def prediction_clock_future_check(*, as_of: datetime, now: datetime | None = None) -> None:
    """Raise PredictionClockError for a clock in the future (beyond CLOCK_SKEW): a prediction is
    made now; a set claiming a later time would claim what had not happened yet."""
    if as_of > (now or timezone.now()) + CLOCK_SKEW:
        raise PredictionClockError(
            f"the clock {clock_display(clock=as_of)} is in the future: a prediction is made now, from "
            "what is known now. Leave the clock out (or use one at or before now)"
        )


def prediction_clock_bounds_check(*, race: Race, as_of: datetime, now: datetime) -> None:
    """Raise PredictionClockError for a clock no prediction can honestly be made at: in the future
    (a prediction is made now; the set would claim a time that has not come — one after the race
    start was never scored yet showed as current), or before the season preceding the race's (the
    field and form of another era: `--as-of 1995-06-01` predicted 2026 Qatar with the 1995 grid; the
    season before stays open, so next season's opener can be predicted from the off-season)."""
    prediction_clock_future_check(as_of=as_of, now=now)
    earliest = datetime(race.season_id - 1, 1, 1, tzinfo=UTC)
    if as_of < earliest:
        raise PredictionClockError(
            f"the clock {clock_display(clock=as_of)} is too early for a {race.season_id} race: a clock "
            f"from {earliest:%Y-%m-%d} on (the season before it) — an earlier one would predict it with "
            "another era's field and form"
        )


def prediction_clock_check(*, race: Race, as_of: datetime | None) -> None:
    """Raise PredictionClockError when `as_of` is a past clock and `race` has results or has started
    by now: a prediction made now cannot be one from before the race."""

    now = timezone.now()
    if as_of is None or as_of >= now:
        return
    has_results = RaceResult.objects.filter(race=race).exists()
    if race_pre_race_cutoff(race=race) <= now or has_results:
        raise PredictionClockError(
            f"the clock {clock_display(clock=as_of)} is before this race, but it has been run since: a "
            "prediction made now would use what was learnt from it. Use a clock at or after now; "
            f"{_pre_race_set_hint(race=race, has_results=has_results)}"
        )


def _pre_race_set_hint(*, race: Race, has_results: bool) -> str:
    """Where the pre-race prediction of a race already run is, or will be."""
    if has_results:
        return (
            "its pre-race prediction is the one scored in its accuracy record (GET "
            f"/api/v1/predictions/accuracy/{race.slug}); when none was stored, the post-race step or "
            "`predict --upcoming` (the last three completed races) backfills one"
        )
    if Prediction.objects.current_candidates().filter(race=race).exists():
        return (
            "it awaits its results: its current set (GET "
            f"/api/v1/predictions/race/{race.slug}) is its pre-race prediction, and the post-race "
            "step scores it once the results are in"
        )
    return (
        "it awaits its results and no pre-race prediction was stored: once the results are in, the "
        "post-race step backfills one made as of before the race (a model trained only on earlier "
        "races) and scores it"
    )


class RaceRunError(PredictionInputError):
    """A race that has results, or has started, gets no new live prediction: made now, it would come
    from the model and data that learnt from the race (the post-race retrain) while standing as the
    race's current set. Its pre-race prediction is the one its accuracy record scored (a backfill
    when none was stored)."""


def race_not_run_check(*, race: Race) -> None:
    """Raise RaceRunError when `race` has results or has started by now (the start, or midnight UTC
    of race day without one — `ingestion.selectors.race_pre_race_cutoff`)."""

    started = race_pre_race_cutoff(race=race)
    has_results = RaceResult.objects.filter(race=race).exists()
    if has_results:
        why = "it has been run (its results are in)"
    elif started <= timezone.now():
        why = f"it started at {clock_display(clock=started)}"
    else:
        return
    raise RaceRunError(
        f"{why}: a prediction made now is no pre-race prediction; "
        f"{_pre_race_set_hint(race=race, has_results=has_results)}",
        {"reason": why},
    )


def race_live_prediction_check(*, race: Race, stage: str | None = None) -> None:
    """PredictionInputError when `race` cannot get a new live prediction of `stage` (what a staff
    regeneration checks before anything is queued), in `prediction_generate`'s order: no history
    before 1996, removed upstream without results, run or started (RaceRunError), then a stage not
    available yet (`post` before qualifying is in: `race_stage_check`)."""
    race_in_history_check(race=race)
    race_on_calendar_check(race=race)
    race_not_run_check(race=race)
    race_stage_check(race=race, stage=stage)


def race_has_grid(*, race: Race) -> bool:
    """Whether the race's grid is in now (results or qualifying rows): what makes the
    post-qualifying stage available to a live prediction (`race_entries` / `_stages_for`)."""
    return (
        RaceResult.objects.filter(race=race, shared_car_index=0).exists()
        or QualifyingResult.objects.filter(race=race).exists()
    )


def race_stage_check(*, race: Race, stage: str | None) -> None:
    """PredictionInputError when a live prediction of `stage` cannot be made now: an unknown stage,
    or `post` before qualifying is in. No stage means every stage available, never refused here."""
    if stage is None:
        return
    if stage not in PredictionStage.values:
        raise PredictionInputError(f"stage must be one of {PredictionStage.values}, got {stage!r}")
    if stage == "post" and not race_has_grid(race=race):
        raise PredictionInputError(
            f"{_NO_POST_STAGE}; regenerate the pre-qualifying stage (stage pre, or no stage) until then",
            {"stage": stage, "available": ["pre"]},
        )


def race_entries(*, race: Race, clock: datetime | None = None) -> tuple[pd.DataFrame, str]:
    """The race's entrants and where the list came from, the race's own entry information first:
    results, qualifying, this weekend's sprint, free practice (`practice_entrants`: each team's cars
    filled from its latest session back, so an FP1-only reserve gives way to the race driver), and
    only for a race with none of these (not yet run, no session in) the entry list of the latest
    race with results before it. Practice and qualifying rows include those ingested from OpenF1's
    session results (`ingestion.services.openf1_results`), so a new season's first race is predicted
    with its own field as soon as FP1 is in.

    `clock`: a past clock — only sessions whose results were known by then count
    (`ingestion.selectors.session_results_known`: the same cut as the features'; a session being held at
    the clock does not), so a clock before FP1 takes the latest race's entry list (that race run
    before the clock: its results known by then, `race_results_known_at`), one after FP2 the field
    of FP1-FP2, and one during qualifying no grid: the field as before qualifying."""
    known = session_results_known(race=race, clock=clock)
    cols = ["race_id", "driver_id", "team_id", "grid"]
    rows = []
    if "race" in known:
        rows = list(
            RaceResult.objects.filter(race=race, shared_car_index=0).values_list(
                "driver_id", "team_id", "grid"
            )
        )
    if rows:
        return pd.DataFrame([(race.id, *r) for r in rows], columns=cols).drop_duplicates(
            "driver_id"
        ), "results"
    if "qualifying" in known:
        rows = list(
            QualifyingResult.objects.filter(race=race).values_list("driver_id", "team_id", "position")
        )
    if rows:
        return pd.DataFrame([(race.id, *r) for r in rows], columns=cols), "qualifying"
    if "sprint" in known:
        rows = list(
            SprintResult.objects.filter(race=race)
            .order_by("position_order")
            .values_list("driver_id", "team_id")
        )
    if rows:
        return pd.DataFrame([(race.id, d, t, None) for d, t in rows], columns=cols).drop_duplicates(
            "driver_id"
        ), "sprint"
    practice_known = [p for p, session in PRACTICE_SESSIONS.items() if session in known]
    practice = list(
        PracticeResult.objects.filter(race=race, session__in=practice_known).values_list(
            "session", "driver_id", "team_id"
        )
    )
    if practice:
        pairs = practice_entrants(rows=practice)
        return pd.DataFrame([(race.id, d, t, None) for d, t in pairs], columns=cols), "practice"
    earlier = Race.objects.filter(date__lt=race.date, results__isnull=False).order_by("-date").distinct()
    # the latest race RUN by the clock (results known: not one still being run then), not just started
    previous = next(
        (
            r
            for r in earlier.iterator()
            if clock is None or race_results_known_at(race_date=r.date, start=r.start) <= clock
        ),
        None,
    )
    if previous is None:
        raise PredictionInputError("no earlier race with results to take the entry list from")
    rows = list(
        RaceResult.objects.filter(race=previous, shared_car_index=0).values_list("driver_id", "team_id")
    )
    return pd.DataFrame([(race.id, d, t, None) for d, t in rows], columns=cols).drop_duplicates(
        "driver_id"
    ), (f"entry list of {previous.slug}")


def practice_entrants(*, rows: list[tuple[str, int, int]]) -> list[tuple[int, int]]:
    """Pure: (session, driver_id, team_id) practice rows -> the (driver_id, team_id) entrants. A team
    has as many cars as it ran in its busiest session; they are filled with its drivers from the
    latest session (FP3, FP2, FP1) back, so a reserve who drove only FP1 gives way to the race
    driver of a later session, and a driver who missed FP3 is still found in FP2."""
    rank = {s: i for i, s in enumerate(PRACTICE_SESSIONS_LATEST_FIRST)}
    per_session: dict[tuple[int, int], list[int]] = {}
    for session, driver, team in sorted(rows, key=lambda r: (rank.get(r[0], len(rank)), r[1])):
        per_session.setdefault((team, rank.get(session, len(rank))), []).append(driver)
    cars: dict[int, int] = {}
    for (team, _), drivers in per_session.items():
        cars[team] = max(cars.get(team, 0), len(set(drivers)))
    out: dict[int, int] = {}
    for (team, _), drivers in sorted(per_session.items()):  # by team, then latest session first
        for driver in drivers:
            if driver not in out and sum(1 for t in out.values() if t == team) < cars[team]:
                out[driver] = team
    return list(out.items())


def _stages_for(race: Race, stage: str | None, source: str, *, clock: datetime | None = None) -> list[str]:
    """The stages to predict. `source`: where the entrants came from (with a past `clock`, only
    sessions whose results were known by then count, so a clock before qualifying's results were
    known — before it or while it was held — has no grid and no post-qualifying stage, even when
    the grid is in the database now)."""
    has_grid = source in ("results", "qualifying")
    if stage is None:
        return ["pre", "post"] if has_grid else ["pre"]
    if stage not in PredictionStage.values:
        raise PredictionInputError(f"stage must be one of {PredictionStage.values}, got {stage!r}")
    if stage == "post" and not has_grid:
        if clock is not None and "qualifying" not in session_results_known(race=race, clock=clock):
            known_at = race_session_results_known_at(race=race)["qualifying"]
            raise PredictionInputError(
                f"as of {clock_display(clock=clock)} qualifying's results were not known yet (known from "
                f"{clock_display(clock=known_at)}), so there is no post-qualifying stage"
            )
        raise PredictionInputError(_NO_POST_STAGE)
    return [stage]


def race_in_history_check(*, race: Race, backfilled: bool = False) -> None:
    """Refuse a race the engine has no history for (its features start in HISTORY_FROM_SEASON); a
    backfilled prediction also needs a whole earlier season of that history to train on."""
    first = HISTORY_FROM_SEASON + 1 if backfilled else HISTORY_FROM_SEASON
    if race.season_id < first:
        kind = "backfilled predictions" if backfilled else "predictions"
        raise PredictionInputError(
            f"{kind} are available from season {first}; this race is in {race.season_id}"
        )


def race_on_calendar_check(*, race: Race) -> None:
    """PredictionInputError for a race upstream no longer lists (cancelled) that has no results:
    there is nothing to predict. With results its past predictions and accuracy stay usable."""
    if race.removed_upstream_at is None or RaceResult.objects.filter(race=race).exists():
        return
    raise PredictionInputError(
        f"{race.slug} is no longer on the {race.season_id} calendar upstream (flagged "
        f"{clock_display(clock=race.removed_upstream_at)}; cancelled?) and has no results: nothing to predict"
    )


def race_features_build(
    *, race: Race, entries: pd.DataFrame, frames: F1Frames | None, clock: datetime | None = None
) -> pd.DataFrame:
    """The race's feature rows. `clock`: a past clock — the frames as known then
    (`features.clock.frames_known_at`: sessions whose results were not known by then left out, the latest forecast
    issued before it)."""
    frames = race_frames_known(race=race, frames=frames, clock=clock)
    return race_rows_build(race=race, entries=entries, frames=frames)


def race_frames_known(*, race: Race, frames: F1Frames | None, clock: datetime | None = None) -> F1Frames:
    """The frames a prediction of `race` is built from (`frames` None: loaded): as known at `clock`
    (`features.clock.frames_known_at`; the race's weather the latest forecast issued before it), and
    for a race run by now and predicted without a clock (a backfill) its weather the forecast issued
    before its start, else none — never the observed weather. A past clock is always before the
    race's start (its callers refuse a race started by the clock), so its forecast is the clock's."""
    run = clock is None and RaceResult.objects.filter(race=race).exists()
    if frames is None:
        frames = f1_frames_load(
            since_season=HISTORY_FROM_SEASON, forecast_for=[] if run else [race.id], as_of=clock
        )
    else:
        frames = frames_known_at(frames, clock)
    if run:  # the forecast issued before its start (one issued after the clock must not come back)
        frames = frames_with_pre_race_forecast(frames, race=race)
    return frames


def race_rows_build(*, race: Race, entries: pd.DataFrame, frames: F1Frames) -> pd.DataFrame:
    """The race's feature rows from `frames` as given (`race_frames_known` prepares them)."""
    features = build_features(frames, targets=entries)
    rows = features[features["race_id"] == race.id].reset_index(drop=True)
    if rows.empty:  # e.g. frames that do not reach this race: never hand the model zero rows
        raise PredictionInputError("no entrants known for this race")
    return rows


# Bump when what goes into the fingerprint changes, so no old set is taken for an identical one.
INPUTS_FINGERPRINT_FORMAT = 1


def prediction_inputs_fingerprint(*, rows: pd.DataFrame, confidence_threshold: float) -> str:
    """sha256 of what a prediction set is computed from, besides the model: the race's feature rows
    (every registry feature, so the grid, practice and the weather forecast included) and the
    low-confidence threshold. Canonical: rows by driver, columns by name, floats to 12 significant
    digits (a different summation order in the feature build must not count as a new input), NaN
    as null."""
    columns = sorted({*KEY, "season", "round", *(f.name for f in FEATURES)} & set(rows.columns))
    frame = rows[columns].sort_values("driver_id", kind="stable")

    def canonical(value):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, float):
            return f"{value:.12g}"
        return str(value)

    payload = {
        "format": INPUTS_FINGERPRINT_FORMAT,
        "columns": columns,
        "rows": [[canonical(v) for v in row] for row in frame.astype(object).itertuples(index=False)],
        "confidence_threshold": f"{confidence_threshold:.12g}",
    }
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class PredictionSets(Sequence):
    """What `prediction_generate` left current: every requested stage's rows (a Sequence of them),
    which stages got a new set (`stored`) and which kept their latest one because the model
    version and the inputs were the same (`unchanged`)."""

    predictions: list[Prediction] = field(default_factory=list)
    stored: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    def __getitem__(self, index):
        return self.predictions[index]

    def __len__(self) -> int:
        return len(self.predictions)


def _is_pre_race(race: Race, as_of: datetime, created_at: datetime) -> bool:
    """As the post-race scoring reads it (`post_race._pre_race_batch`): cut off and made before."""

    cutoff = race_pre_race_cutoff(race=race)
    return as_of < cutoff and created_at < cutoff


def _unchanged_set(
    race: Race, stage: str, *, version: ModelVersion, fingerprint: str, backfilled: bool, as_of: datetime,
    clock: datetime | None,
) -> list[Prediction] | None:  # fmt: skip
    """The race's current set of `stage` if storing a new one would only duplicate it: made by the
    same model version from the same inputs, and alike in what the post-race scoring reads (a
    backfilled set is not a live one; a set made after the race is no pre-race prediction).

    `clock`: a past clock compares with the latest set made at that same clock (re-running one
    `predict --as-of` stores nothing new); without one, with the current set, which a set made at a
    past clock never is."""
    latest = (
        Prediction.objects.filter(race=race, stage=stage, clock=clock)  # clock=None: IS NULL
        .order_by("-created_at", "-id")  # "current", as selectors.prediction_list_current reads it
        .values_list("batch", "model_version_id", "inputs_fingerprint", "backfilled", "as_of", "created_at")
        .first()
    )
    if latest is None:
        return None
    batch, version_id, stored_fingerprint, stored_backfilled, stored_as_of, created_at = latest
    if (
        version_id != version.pk
        or stored_fingerprint != fingerprint
        or stored_backfilled != backfilled
        or _is_pre_race(race, stored_as_of, created_at) != _is_pre_race(race, as_of, timezone.now())
    ):
        return None
    return list(Prediction.objects.filter(batch=batch).order_by("predicted_position"))


def _prediction_rows(
    race: Race, stage: str, out: pd.DataFrame, *, version: ModelVersion, fingerprint: str,
    as_of: datetime, backfilled: bool, clock: datetime | None,
) -> list[Prediction]:  # fmt: skip
    batch = uuid.uuid4()
    threshold = settings.PREDICTION_CONFIDENCE_THRESHOLD
    return [
        Prediction(
            batch=batch,
            race_id=race.id,
            driver_id=int(r.driver_id),
            team_id=int(r.team_id),
            stage=stage,
            predicted_position=int(r.predicted_position),
            expected_position=round(float(r.expected_position), 3),
            win_probability=float(r.p_win),
            podium_probability=float(r.p_podium),
            points_probability=float(r.p_points),
            dnf_probability=round(float(r.p_dnf), 4),
            confidence=float(r.confidence),
            low_confidence=bool(r.confidence < threshold),
            explanation=r.explanation,
            model_version=version,
            as_of=as_of,
            clock=clock,
            backfilled=backfilled,
            inputs_fingerprint=fingerprint,
        )
        for r in out.itertuples()
    ]


def prediction_generate(
    *,
    race: Race,
    stage: str | None = None,
    as_of: datetime | None = None,
    backfilled: bool = False,
    version: ModelVersion | None = None,
    frames: F1Frames | None = None,
) -> PredictionSets:
    """Predict `race` (both stages when qualifying is in, else pre-qualifying) and store new rows,
    unless nothing changed: a stage whose current set was made by the same model version from the
    same inputs (`prediction_inputs_fingerprint`) keeps that set and is reported `unchanged`, so
    re-running the quick start or `predict --upcoming` does not pile up identical sets.

    A live prediction (not backfilled, no past clock) of a race that has results or has started is
    refused (RaceRunError): its pre-race set is the scored one. Backfilled predictions use a model
    trained only on seasons before the race's season.
    Races before HISTORY_FROM_SEASON (backfilled: the season after it) raise PredictionInputError.

    `as_of` in the past (a demo clock) never fakes a pre-race prediction: a race run since then is
    refused (PredictionClockError; its honest prediction is a backfill), the post-qualifying stage
    needs qualifying to have begun before the clock, and the set stores `as_of` = now, when it was
    really made (only a backfill keeps an earlier `as_of`), and `clock` = the clock: it describes
    that moment, so it is never the race's current set (nor scored), only kept in its history. Its
    model is one trained only on races run before the clock (`model_bundle_known_at`), not the
    active one.
    """
    race_in_history_check(race=race, backfilled=backfilled)
    race_on_calendar_check(race=race)
    now = timezone.now()
    if as_of is not None and not backfilled:
        prediction_clock_bounds_check(race=race, as_of=as_of, now=now)
    past_clock = as_of is not None and as_of < now and not backfilled
    if past_clock:
        prediction_clock_check(race=race, as_of=as_of)
    elif not backfilled:
        race_not_run_check(race=race)
    clock = as_of if past_clock else None  # what the clock cuts: sessions started after it
    entries, source = race_entries(race=race, clock=clock)
    stages = _stages_for(race, stage, source, clock=clock)
    if backfilled and version is None:
        version = model_version_for_season(season=race.season_id, frames=frames)
    if past_clock and version is None:
        # what was known at the clock: a model trained only on races run before it, not the
        # active one, which has learnt from the races since
        version, bundle = model_bundle_known_at(clock=clock, frames=frames)
    else:
        version, bundle = model_bundle_load(version=version)
    rows = race_features_build(race=race, entries=entries, frames=frames, clock=clock)
    as_of = now if as_of is None or past_clock else as_of
    fingerprint = prediction_inputs_fingerprint(
        rows=rows, confidence_threshold=settings.PREDICTION_CONFIDENCE_THRESHOLD
    )
    same = {
        "version": version, "fingerprint": fingerprint, "backfilled": backfilled, "as_of": as_of,
        "clock": clock,
    }  # fmt: skip
    # Run the model outside the lock below for the stages that look changed (the common case).
    computed = {
        s: race_predict(bundle.stages[s], rows) for s in stages if not _unchanged_set(race, s, **same)
    }
    current: list[Prediction] = []
    created: list[Prediction] = []
    stored, unchanged = [], []
    with transaction.atomic():
        # One generation of a race at a time (PostgreSQL row lock; SQLite serialises writers
        # anyway), so two identical concurrent calls store one set, not two.
        list(Race.objects.select_for_update().filter(pk=race.pk).values_list("pk"))
        for s in stages:
            existing = _unchanged_set(race, s, **same)
            if existing is not None:
                current.extend(existing)
                unchanged.append(s)
                continue
            out = computed[s] if s in computed else race_predict(bundle.stages[s], rows)
            new = _prediction_rows(race, s, out, **same)
            created.extend(new)
            current.extend(new)
            stored.append(s)
        if created:
            Prediction.objects.bulk_create(created)
            transaction.on_commit(lambda: predictions_changed.send(sender=Prediction, race_ids=[race.id]))
    return PredictionSets(predictions=current, stored=tuple(stored), unchanged=tuple(unchanged))


def predictions_backfill(*, races: list[Race], frames: F1Frames | None = None) -> list[Race]:
    """Give completed races without a stored pre-race prediction a backfilled one (made by a model
    trained only on earlier seasons; a prediction made after the race does not count). Races too
    early for such a model (HISTORY_FROM_SEASON and before) are skipped. Returns the races that were
    backfilled."""
    from predictions.services.post_race import race_has_pre_race_prediction

    done = []
    for race in races:
        if race.season_id <= HISTORY_FROM_SEASON:
            continue
        if race_has_pre_race_prediction(race=race) or not RaceResult.objects.filter(race=race).exists():
            continue
        prediction_generate(race=race, backfilled=True, frames=frames)
        done.append(race)
    return done


# Seasons whose qualifying had a Q3 (top 10 reach it), for a what-if grid of a race not yet qualified.
Q3_FROM_SEASON = 2006
Q3_PLACES = 10


def what_if_qualifying(
    *, qualifying: pd.DataFrame, race_id: int, order: list[tuple[int, int]]
) -> pd.DataFrame:
    """Pure: the qualifying frame with `race_id`'s classification replaced by the what-if grid
    `order` ((driver_id, team_id), pole first): the driver in slot k gets position k and the Q1/Q2/Q3
    times the race's real slot-k qualifier set, so gap to pole, reached-Q3 and the team-mate gap
    follow the chosen grid. Slots beyond the real classification (or a race not yet qualified) get
    no times: gaps are missing (NaN) and reached-Q3 comes from `what_if_reached_q3`."""
    real = qualifying[qualifying["race_id"] == race_id].sort_values("position", kind="stable")
    times = real[["q1_ms", "q2_ms", "q3_ms"]].reset_index(drop=True)
    rows = []
    for slot, (driver_id, team_id) in enumerate(order, start=1):
        t = times.iloc[slot - 1] if slot <= len(times) else None
        rows.append(
            {
                "race_id": race_id,
                "driver_id": driver_id,
                "team_id": team_id,
                "position": slot,
                **{c: (np.nan if t is None else t[c]) for c in ("q1_ms", "q2_ms", "q3_ms")},
            }
        )
    synthetic = pd.DataFrame(rows, columns=qualifying.columns).astype(
        {"q1_ms": float, "q2_ms": float, "q3_ms": float}
    )
    rest = qualifying[qualifying["race_id"] != race_id]
    return pd.concat([rest, synthetic], ignore_index=True) if len(rest) else synthetic


def what_if_reached_q3(*, slots: pd.Series, season: int, real_q3_slots: int | None) -> pd.Series:
    """Pure: reached-Q3 by grid slot: the real race's Q3 places when it was qualified, else the top
    ten from 2006 (the Q1/Q2/Q3 format), else none."""
    if real_q3_slots is not None:
        return (slots <= real_q3_slots).astype(float)
    places = Q3_PLACES if season >= Q3_FROM_SEASON else 0
    return (slots <= places).astype(float)


def _what_if_targets(
    race: Race, grid: list[str], *, clock: datetime | None = None
) -> tuple[pd.DataFrame, dict[int, Driver]]:
    """Validate a what-if grid against the race's entrants (as known at `clock`: `race_entries`);
    the targets frame in grid order.

    Every problem is reported at once, in one PredictionInputError whose details always hold the
    four lists — `unknown` (no such driver ref), `duplicates` (on the grid more than once),
    `not_entered` (a real driver not in this race's field), `missing` (an entrant not on the grid) —
    and `entrants_from`, so a client fixes the whole grid in one round trip."""
    race_in_history_check(race=race)
    race_on_calendar_check(race=race)
    if not grid:
        raise PredictionInputError("the grid is empty")
    duplicates = sorted({d for d in grid if grid.count(d) > 1})
    distinct = list(dict.fromkeys(grid))  # grid order, each ref once
    drivers = {d.ref: d for d in Driver.objects.filter(ref__in=distinct)}
    unknown = [ref for ref in distinct if ref not in drivers]
    entries, source = race_entries(race=race, clock=clock)
    team_of = dict(zip(entries["driver_id"].astype(int), entries["team_id"].astype(int), strict=True))
    not_entered = [ref for ref in distinct if ref in drivers and drivers[ref].id not in team_of]
    on_grid = {driver.id for driver in drivers.values()}
    missing = sorted(
        Driver.objects.filter(id__in=[d for d in team_of if d not in on_grid]).values_list("ref", flat=True)
    )
    if unknown or duplicates or not_entered or missing:
        parts = []
        if unknown:
            parts.append(f"unknown driver refs: {', '.join(unknown)}")
        if duplicates:
            parts.append(f"drivers appear more than once on the grid: {', '.join(duplicates)}")
        if not_entered:
            parts.append(f"not entered in this race: {', '.join(not_entered)}")
        if missing:
            parts.append(f"missing from the grid: {', '.join(missing)}")
        raise PredictionInputError(
            f"the grid must list each of the race's {len(team_of)} entrants (from its {source}) "
            f"exactly once; {'; '.join(parts)}",
            {
                "unknown": unknown,
                "duplicates": duplicates,
                "not_entered": not_entered,
                "missing": missing,
                "entrants_from": source,
            },
        )
    targets = pd.DataFrame(
        [
            (race.id, drivers[ref].id, team_of[drivers[ref].id], slot)
            for slot, ref in enumerate(grid, start=1)
        ],
        columns=["race_id", "driver_id", "team_id", "grid"],
    )
    return targets, {d.id: d for d in drivers.values()}


def prediction_what_if_features(
    *, race: Race, grid: list[str], as_of: datetime | None = None
) -> pd.DataFrame:
    """The feature rows a what-if grid is predicted from: the race's own history, practice, sprint
    and weather as they are, and every qualifying-derived feature (grid, quali position, gap to
    pole, reached Q3, team-mate gap, grid penalty, grid × overtaking) following the chosen grid —
    `what_if_qualifying`. Raises PredictionInputError for a grid that is not the race's field.
    `as_of`: a past clock — everything as known then (`prediction_what_if`)."""
    targets, _ = _what_if_targets(race, grid, clock=as_of)
    return _what_if_rows(race, targets, clock=as_of)


def _what_if_rows(race: Race, targets: pd.DataFrame, *, clock: datetime | None = None) -> pd.DataFrame:
    """The what-if rows of `targets` (the grid, validated): the race's grid-independent rows are
    built once per race, entrants and data state (`services.what_if`), and only the qualifying- and
    grid-derived columns are computed per request — the same rows `_what_if_rows_built` gives."""

    def build() -> WhatIfBase:
        canonical = targets.sort_values("driver_id", kind="stable").reset_index(drop=True)
        canonical["grid"] = range(1, len(canonical) + 1)
        rows, qualifying = _what_if_rows_built(race, canonical, clock=clock)
        return WhatIfBase(rows=rows, qualifying=qualifying)

    base = what_if_base_get(race_id=race.id, entries=targets, build=build, clock=clock)
    order = list(zip(targets["driver_id"], targets["team_id"], strict=True))
    qualifying = what_if_qualifying(qualifying=base.qualifying, race_id=race.id, order=order)
    rows = target_rows_with_grid(base.rows, qualifying=qualifying, grid=targets[["driver_id", "grid"]])
    return _with_reached_q3(race, rows, targets, real=base.qualifying)


def _with_reached_q3(race: Race, rows: pd.DataFrame, targets: pd.DataFrame, *, real: pd.DataFrame):
    slots = rows["driver_id"].map(dict(zip(targets["driver_id"], targets["grid"], strict=True)))
    rows["quali_reached_q3"] = what_if_reached_q3(
        slots=slots,
        season=race.season_id,
        real_q3_slots=int(real["q3_ms"].notna().sum()) if len(real) else None,
    ).to_numpy()
    return rows


def _what_if_rows_built(
    race: Race, targets: pd.DataFrame, *, clock: datetime | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The what-if rows of `targets` built in full (every race's features from the frames, ~1.4 s),
    and the race's real qualifying rows. `clock`: a past clock before the race — the frames as known
    then (`race_frames_known`: no qualifying, practice or forecast from after it), cut before the
    grid goes in (the cut would drop a grid of a qualifying not yet begun)."""
    frames = race_frames_known(race=race, frames=None, clock=clock)
    real = frames.qualifying[frames.qualifying["race_id"] == race.id].reset_index(drop=True)
    frames.qualifying = what_if_qualifying(
        qualifying=frames.qualifying,
        race_id=race.id,
        order=list(zip(targets["driver_id"], targets["team_id"], strict=True)),
    )
    rows = race_rows_build(race=race, entries=targets, frames=frames)
    return _with_reached_q3(race, rows, targets, real=real), real


class WhatIfClockError(PredictionInputError):
    """No what-if of this race as of this clock: the race had started by then (a what-if is a
    prediction made before the race), or the clock is in the future or too early for the race
    (`prediction_clock_bounds_check`)."""


def what_if_clock_check(*, race: Race, as_of: datetime) -> None:
    """Raise WhatIfClockError when `race` cannot be what-if'd as of the past clock `as_of` (started by
    then, or a clock `predict --as-of` refuses too), NoModelAtClock when no model version had been
    registered by then. One query (whether any version had been)."""

    try:
        prediction_clock_bounds_check(race=race, as_of=as_of, now=timezone.now())
    except PredictionClockError as exc:
        raise WhatIfClockError(str(exc)) from None
    start = race_pre_race_cutoff(race=race)
    if start < as_of:  # `race_started`'s rule: a clock on the start stands before it
        raise WhatIfClockError(
            f"the race had started by {clock_display(clock=as_of)} (at {clock_display(clock=start)}): a "
            "what-if is a prediction made before the race, so there is none as of then"
        )
    if not ModelVersion.objects.filter(created_at__lt=as_of).exists():  # `model_versions_at`'s rule
        raise NoModelAtClock(f"no prediction model had been trained by {clock_display(clock=as_of)}")


def prediction_what_if(*, race: Race, grid: list[str], as_of: datetime | None = None) -> list[dict]:
    """Post-qualifying prediction from a user-supplied grid (driver refs, pole first). Not stored.

    The grid must list exactly the race's entrants (`race_entries`: results, qualifying, sprint,
    practice or the latest race's field), each once; anyone else (a retired driver, a reserve not
    entered) and anyone left out are refused, listed in the error's details. The qualifying-derived
    features follow the grid (`prediction_what_if_features`).

    `as_of`: a past clock — the what-if as it could have been made then (`what_if_clock_check`
    first: WhatIfClockError for a race started by then, NoModelAtClock when no model existed):
    the entrants and every feature as known at the clock (`race_entries(clock=)`,
    `features.clock.frames_known_at`: sessions whose results were not known by then, results of races run since and
    forecasts issued since left out; the base cache keyed by the clock), and the model serving
    then (`model_bundle_at`: registered before the clock; never one trained now)."""
    if as_of is not None:
        what_if_clock_check(race=race, as_of=as_of)
    targets, by_id = _what_if_targets(race, grid, clock=as_of)
    version, bundle = model_bundle_load() if as_of is None else model_bundle_at(clock=as_of)
    rows = _what_if_rows(race, targets, clock=as_of)
    out = race_predict(bundle.stages["post"], rows, explain=3)
    # the model was fitted on this race's own result — a race of its training window with results
    # stored (by then, at a clock; its window ends before the race then): a what-if in hindsight,
    # not a forecast it could have made before the race
    hindsight = (
        version.train_from_season <= race.season_id
        and race.date <= version.trained_until_date
        and RaceResult.objects.filter(race=race).exists()
    )
    teams = {t.id: t for t in Team.objects.filter(id__in=targets["team_id"].unique().tolist())}
    threshold = settings.PREDICTION_CONFIDENCE_THRESHOLD
    result = []
    for r in out.sort_values("predicted_position").itertuples():
        d, t = by_id[int(r.driver_id)], teams[int(r.team_id)]
        result.append(
            {
                "driver": d.ref,
                "driver_code": d.code,
                "driver_name": d.full_name,
                "team": t.ref,
                "team_name": t.name,
                "grid": int(targets.loc[targets["driver_id"] == r.driver_id, "grid"].iloc[0]),
                "predicted_position": int(r.predicted_position),
                "expected_position": round(float(r.expected_position), 2),
                "win_probability": float(r.p_win),
                "podium_probability": float(r.p_podium),
                "points_probability": float(r.p_points),
                "dnf_probability": round(float(r.p_dnf), 4),
                "confidence": float(r.confidence),
                "low_confidence": bool(r.confidence < threshold),
                "explanation": r.explanation,
                "model_version": version.label,
                "hindsight": hindsight,
            }
        )
    return result
