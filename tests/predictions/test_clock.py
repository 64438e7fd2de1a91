"""The as-of clock never fakes a pre-race prediction, and scoring takes only sets genuinely made
before the race (or honest backfills)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ingestion.models import QualifyingResult, Race, RaceResult, SprintResult
from predictions.models import ModelVersion, Prediction, RaceAccuracy
from predictions.selectors import race_accuracy_get
from predictions.services import prediction_generate
from predictions.services.post_race import race_accuracy_score, race_has_pre_race_prediction
from predictions.services.predicting import (
    PredictionClockError,
    PredictionInputError,
    race_entries,
    race_features_build,
)
from tests.conftest import in_season
from tests.factories import ModelVersionFactory, PredictionFactory, RaceFactory

pytestmark = pytest.mark.django_db


def _race(season, rnd):
    return Race.objects.get(season_id=season, round=rnd)


def test_a_past_clock_refuses_races_run_since_and_backfills_the_past_three(active_model):
    """QA repro: `predict --upcoming --as-of 2026-06-01` predicted Monaco and Barcelona (results in)
    with the active model and stored them as pre-race sets dated 2026-06-01."""
    # The test model stands in for the 'trained on seasons before 2026' one the backfill asks for.
    ModelVersion.objects.filter(pk=active_model.pk).update(train_until_season=2025)
    monaco, barcelona = _race(2026, 6), _race(2026, 7)
    out = StringIO()
    with pytest.raises(CommandError) as err:
        call_command("predict", "--upcoming", "--as-of", "2026-06-01", stdout=out)
    assert str(err.value).startswith(
        f"{monaco.slug}: the clock 2026-06-01 00:00 UTC is before this race, but it has been run since"
    )
    assert not Prediction.objects.filter(race__in=[monaco, barcelona]).exists()
    # The last three completed races as of the clock got honest backfills (and only those).
    recent = [_race(2026, r) for r in (5, 4, 3)]
    assert f"backfilled and scored: {', '.join(r.slug for r in recent)}" in out.getvalue()
    assert not Prediction.objects.filter(backfilled=False).exists()
    with pytest.raises(CommandError, match=f"^{barcelona.slug}: the clock 2026-06-13 12:00 UTC"):
        call_command("predict", "--race", barcelona.slug, "--as-of", "2026-06-13T12:00", stdout=out)
    with pytest.raises(PredictionClockError):
        prediction_generate(race=monaco, as_of=datetime(2026, 6, 1, tzinfo=UTC))
    assert not Prediction.objects.filter(race__in=[monaco, barcelona]).exists()


@pytest.fixture
def future_race_with_grid():
    """A race of next season whose qualifying is in (entrants of 2026 round 7)."""
    race = RaceFactory(season__year=timezone.now().year + 1)
    entrants = RaceResult.objects.filter(race=_race(2026, 7), shared_car_index=0).order_by("grid")
    for pos, entry in enumerate(entrants, start=1):
        QualifyingResult.objects.create(
            race=race, driver_id=entry.driver_id, team_id=entry.team_id, number=entry.number, position=pos
        )
    return race


def _numbers(rows, stage):
    return sorted(
        (p.driver_id, p.predicted_position, p.win_probability, p.points_probability, p.dnf_probability)
        for p in rows
        if p.stage == stage
    )


def test_a_past_clock_before_qualifying_has_no_post_stage_and_stores_when_it_was_made(
    active_model, future_race_with_grid
):
    race = future_race_with_grid
    now = timezone.now()
    Race.objects.filter(pk=race.pk).update(qualifying_start=now + timedelta(days=1))
    race.refresh_from_db()
    clock = now - timedelta(hours=1)
    made = prediction_generate(race=race, as_of=clock)
    assert made.stored == ("pre",)  # the grid is in, but not as of the clock
    assert all(p.as_of >= now for p in made)  # when it was made, not the clock
    with pytest.raises(PredictionInputError, match="qualifying's results were not known yet"):
        prediction_generate(race=race, stage="post", as_of=clock)
    # qualifying under way at the clock (begun an hour before it): no grid known yet either
    Race.objects.filter(pk=race.pk).update(qualifying_start=now - timedelta(hours=2))
    race.refresh_from_db()
    with pytest.raises(PredictionInputError, match="qualifying's results were not known yet"):
        prediction_generate(race=race, stage="post", as_of=clock)
    # its results known by the clock (start + 2 h at or before it)
    Race.objects.filter(pk=race.pk).update(qualifying_start=clock - timedelta(hours=2))
    race.refresh_from_db()
    later = prediction_generate(race=race, as_of=clock)
    # The grid is an input as of this clock (the fingerprint covers every feature, so the pre stage
    # is a new set, as when a grid comes in with the default clock); its numbers are the same — the
    # same field, and the pre-qualifying models do not read the grid.
    assert set(later.stored) == {"pre", "post"}
    assert _numbers(later, "pre") == _numbers(made, "pre")


def _set(race, *, backfilled=False, as_of=None, created_at=None) -> uuid.UUID:
    batch, version = uuid.uuid4(), ModelVersionFactory()
    entrants = RaceResult.objects.filter(race=race, shared_car_index=0).order_by("grid")
    for pos, entry in enumerate(entrants, start=1):
        PredictionFactory(
            batch=batch, race=race, driver_id=entry.driver_id, team_id=entry.team_id, stage="pre",
            predicted_position=pos, model_version=version, backfilled=backfilled,
            as_of=as_of or timezone.now(),
        )  # fmt: skip
    if created_at is not None:
        Prediction.objects.filter(batch=batch).update(created_at=created_at)
    return batch


def test_scoring_takes_only_sets_made_before_the_race_or_honest_backfills(ergast_data):
    race = _race(2026, 7)
    before = race.start - timedelta(days=2)
    leaked = _set(race, as_of=before)  # claims a pre-race clock, but was stored now, after the race
    assert not race_has_pre_race_prediction(race=race)
    assert race_accuracy_score(race=race) == []
    honest = _set(race, backfilled=True)
    race_accuracy_score(race=race)
    assert set(RaceAccuracy.objects.filter(race=race).values_list("batch", flat=True)) == {honest}
    genuine = _set(race, as_of=before, created_at=before)  # really made two days before
    race_accuracy_score(race=race)
    assert race_accuracy_get(race=race)["pre"].batch == genuine  # a live pre-race set beats a backfill
    assert leaked not in set(RaceAccuracy.objects.values_list("batch", flat=True))


@in_season
def test_a_past_clock_leaves_out_the_races_run_after_it(ergast_data):
    """Qatar (round 22, not run) as of 1 June: Monaco and Barcelona (rounds 6-7), run since and in the
    database now, are not in its history — the field is round 5's and the championship points are
    those of rounds 1-5 (race + sprint)."""
    qatar = _race(2026, 22)
    clock = datetime(2026, 6, 1, tzinfo=UTC)
    entries, source = race_entries(race=qatar, clock=clock)
    assert source == f"entry list of {_race(2026, 5).slug}"
    assert race_entries(race=qatar)[1] == f"entry list of {_race(2026, 7).slug}"
    rows = race_features_build(race=qatar, entries=entries, frames=None, clock=clock).set_index("driver_id")
    points: dict[int, float] = {}
    for model in (RaceResult, SprintResult):
        for driver, p in model.objects.filter(race__season_id=2026, race__round__lte=5).values_list(
            "driver_id", "points"
        ):
            points[driver] = points.get(driver, 0.0) + float(p)
    assert rows["driver_season_points"].to_dict() == {d: points.get(d, 0.0) for d in rows.index}
    assert rows["driver_season_points"].max() < max(  # rounds 6-7 would add to the leader's points
        race_features_build(race=qatar, entries=race_entries(race=qatar)[0], frames=None)[
            "driver_season_points"
        ]
    )


@pytest.mark.parametrize(
    ("clock", "message"),
    [
        (datetime(1995, 6, 1, tzinfo=UTC), "too early for a 2026 race"),  # QA: the 1995 field
        (datetime(2024, 12, 31, 23, 0, tzinfo=UTC), "too early for a 2026 race"),
        (None, "is in the future"),  # filled in below: an hour ahead of now
    ],
)
def test_a_clock_in_the_future_or_before_the_previous_season_is_refused(active_model, clock, message):
    """QA: `--as-of 1995-06-01` stored a 2026 Qatar set with 1995's field as the current prediction;
    a future clock stored a set claiming a time that had not come. Both refused, nothing stored."""
    race = _race(2026, 21)
    clock = clock or timezone.now() + timedelta(hours=1)
    with pytest.raises(PredictionClockError, match=message):
        prediction_generate(race=race, as_of=clock)
    assert not Prediction.objects.filter(race=race).exists()


def test_a_clock_in_the_season_before_is_accepted(active_model):
    """Next season's opener can be predicted from the off-season: a clock in the season before."""
    race = RaceFactory(season__year=timezone.now().year + 1)
    entrants = RaceResult.objects.filter(race=_race(2026, 7), shared_car_index=0)
    for pos, entry in enumerate(entrants, start=1):
        QualifyingResult.objects.create(
            race=race, driver_id=entry.driver_id, team_id=entry.team_id, number=entry.number, position=pos
        )
    made = prediction_generate(race=race, as_of=datetime(timezone.now().year, 1, 1, tzinfo=UTC))
    assert made.stored


def test_on_race_day_a_race_counts_as_completed_only_once_it_has_started():
    """QA: the home page as of 2026-06-14 12:00 UTC listed Barcelona (start 13:00, results stored
    now) among the last three races with its winner; at that clock it had not started."""
    from ingestion.selectors import race_status
    from predictions.selectors import race_list_recent_completed, race_list_upcoming

    barcelona = _race(2026, 7)
    assert barcelona.start == datetime(2026, 6, 14, 13, 0, tzinfo=UTC)
    before = datetime(2026, 6, 14, 12, 0, tzinfo=UTC)
    running = datetime(2026, 6, 14, 15, 0, tzinfo=UTC)  # started, results known from 16:00
    after = datetime(2026, 6, 14, 16, 1, tzinfo=UTC)
    assert barcelona not in race_list_recent_completed(as_of=running)
    assert race_list_upcoming(as_of=running)[0] == barcelona
    assert race_status(race=barcelona, as_of=running) == "awaiting_results"
    assert barcelona not in race_list_recent_completed(as_of=before)
    assert race_list_upcoming(as_of=before)[0] == barcelona
    assert race_status(race=barcelona, as_of=before) == "scheduled"
    assert race_list_recent_completed(as_of=after)[0] == barcelona
    assert barcelona not in race_list_upcoming(as_of=after)
    assert race_status(race=barcelona, as_of=after) == "completed"
    # a date (not a time) counts its whole day, as before
    assert race_list_recent_completed(as_of=before.date())[0] == barcelona


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-20", datetime(2026, 6, 20, tzinfo=UTC)),  # a date: 00:00 UTC that day
        ("2026-06-20T00:00", datetime(2026, 6, 20, tzinfo=UTC)),  # ... as its midnight reads
        ("2026-06-20T14:30", datetime(2026, 6, 20, 14, 30, tzinfo=UTC)),  # no zone: UTC
        ("2026-06-20T14:30+02:00", datetime(2026, 6, 20, 12, 30, tzinfo=UTC)),
    ],
)
def test_a_typed_clock_is_read_by_one_rule(text, expected):
    from f1site.clock import clock_from_text

    assert clock_from_text(text=text) == expected


@pytest.mark.parametrize(
    ("clock", "text"),
    [
        (datetime(2026, 6, 20, tzinfo=UTC), "2026-06-20"),  # midnight: the date alone
        (datetime(2026, 6, 20, 14, 30, tzinfo=UTC), "2026-06-20T14:30"),
        (datetime(2026, 6, 20, 16, 30, tzinfo=timezone.get_fixed_timezone(120)), "2026-06-20T14:30"),  # UTC
        (datetime(2026, 6, 20, 14, 30, 5, tzinfo=UTC), "2026-06-20T14:30:05"),
        (datetime(2026, 6, 20, 0, 0, 0, 250, tzinfo=UTC), "2026-06-20T00:00:00.000250"),
    ],
)
def test_a_clock_is_written_for_a_link_as_it_reads_back(clock, text):
    """The race links of a page as of a clock carry it (`clock_to_text`): one short spelling, no
    `+` to escape, read back as the same moment."""
    from f1site.clock import clock_from_text, clock_to_text

    assert clock_to_text(clock=clock) == text
    assert clock_from_text(text=text) == clock


@pytest.mark.parametrize("text", ["June", "", "2026-06-20\n", "2026-13-01"])
def test_a_typed_clock_that_is_no_date_is_refused(text):
    from f1site.clock import clock_from_text

    with pytest.raises(ValueError, match="is not an ISO date or date-time"):
        clock_from_text(text=text)


@pytest.mark.parametrize(
    ("text", "edge"),
    [
        ("0001-01-01T00:00+01:00", datetime(1, 1, 1, tzinfo=UTC)),
        ("0001-01-01T01:00:01+01:01", datetime(1, 1, 1, tzinfo=UTC)),
        ("9999-12-31T23:59-01:00", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_a_typed_clock_outside_the_calendar_in_utc_is_its_edge(text, edge):
    """Valid ISO date-times (the API schema declares any), a minute or an hour beyond years 1-9999
    once in UTC: they read as the edge itself, a clock before any data or in the future."""
    from f1site.clock import clock_display, clock_from_text

    assert clock_from_text(text=text) == edge
    assert clock_display(clock=edge).startswith(("0001-01-01 00:00", "9999-12-31 23:59"))


def test_the_command_and_the_home_page_read_a_date_as_the_same_clock(client):
    """`predict --as-of 2026-06-20` was 00:00 UTC and `/?as_of=2026-06-20` 12:00: both are 00:00."""
    from predictions.management.commands.predict import parse_as_of

    page = client.get("/", {"as_of": "2026-06-20"})
    assert page.status_code == 200
    assert page.context["as_of"] == parse_as_of("2026-06-20") == datetime(2026, 6, 20, tzinfo=UTC)


@in_season
def test_a_set_made_at_a_past_clock_is_kept_with_its_clock_but_never_current(active_model):
    """QA: `predict --race 2026_qatar --as-of 2025-01-01T00:00` stored a set built from the 2024
    Abu Dhabi field (Zhou, Sainz at Ferrari) that became Qatar's current one — home page,
    `predictions/upcoming`, the what-if pre-fill — with `as_of` = now, so nothing recorded its clock."""
    from analytics.selectors import what_if_grid_prefill
    from predictions.api.selectors import stages_payload, upcoming_predictions
    from predictions.selectors import prediction_list_current, prediction_sets_shown

    qatar = _race(2026, 22)
    live = prediction_generate(race=qatar)
    live_batch = live[0].batch
    out = StringIO()
    call_command("predict", "--race", qatar.slug, "--as-of", "2025-01-01T00:00", stdout=out)
    clocked = list(Prediction.objects.filter(race=qatar).exclude(batch=live_batch).select_related("driver"))
    assert clocked and {p.clock for p in clocked} == {datetime(2025, 1, 1, tzinfo=UTC)}
    assert "zhou" in {p.driver.ref for p in clocked}  # the field as of the clock: 2024 Abu Dhabi's
    assert all(p.as_of > p.clock for p in clocked)  # made now
    assert "kept in the race's history, never its current prediction" in out.getvalue()

    assert {p.batch for p in prediction_list_current(race=qatar)["pre"]} == {live_batch}
    shown = prediction_sets_shown(races=[qatar])[qatar.pk]["predictions"]
    assert {p.batch for p in shown["pre"]} == {live_batch}
    (stage,) = stages_payload(race=qatar)
    first = min(live, key=lambda p: p.predicted_position)  # the row that describes the set
    assert stage["clock"] is None and stage["created_at"] == first.created_at
    assert len(stage["predictions"]) == len(live)
    (upcoming,) = [r for r in upcoming_predictions()["races"] if r["race"]["id"] == qatar.slug]
    assert upcoming["stages"] == [stage]
    rows, _ = what_if_grid_prefill(race=qatar)
    live_order = [p.driver.ref for p in sorted(live, key=lambda p: p.predicted_position)]
    assert [r["ref"] for r in rows] == live_order
    # Nothing new since the current set: the fingerprint check compares with it, not the newer
    # clocked set; the same past clock again compares with that clock's set.
    assert prediction_generate(race=qatar).unchanged == ("pre",)
    again = prediction_generate(race=qatar, as_of=datetime(2025, 1, 1, tzinfo=UTC))
    assert again.unchanged == ("pre",) and {p.batch for p in again} == {clocked[0].batch}
    assert Prediction.objects.filter(race=qatar).values("batch").distinct().count() == 2


def test_scoring_never_takes_a_set_made_at_a_past_clock(ergast_data):
    """Made before the race but computed at an earlier clock, such a set was never the site's
    current prediction, so it is not the one scored (the honest backfill is)."""
    race = _race(2026, 7)
    before = race.start - timedelta(days=2)
    clocked = _set(race, as_of=before, created_at=before)
    Prediction.objects.filter(batch=clocked).update(clock=before - timedelta(days=30))
    assert not race_has_pre_race_prediction(race=race)
    honest = _set(race, backfilled=True)
    race_accuracy_score(race=race)
    assert set(RaceAccuracy.objects.filter(race=race).values_list("batch", flat=True)) == {honest}


def test_the_pages_and_the_race_lists_share_one_completed_rule():
    """QA: `prediction_sets_shown` called a race completed by its date, the race lists by its start:
    as of Barcelona's race day at 12:00 (start 13:00, results stored now) the home page listed it as
    upcoming but showed it a completed race's set (the live pre-race one over the newer backfill)."""
    from ingestion.selectors import race_status
    from predictions.selectors import prediction_sets_shown, race_list_upcoming

    barcelona = _race(2026, 7)
    noon = datetime(2026, 6, 14, 12, 0, tzinfo=UTC)
    live = _set(barcelona, as_of=noon - timedelta(days=2), created_at=noon - timedelta(days=2))
    newest = _set(
        barcelona, backfilled=True, as_of=noon - timedelta(days=1), created_at=noon - timedelta(days=1)
    )
    assert race_list_upcoming(as_of=noon)[0] == barcelona
    assert race_status(race=barcelona, as_of=noon) == "scheduled"
    shown = prediction_sets_shown(races=[barcelona], as_of=noon)[barcelona.pk]["predictions"]
    assert {p.batch for p in shown["pre"]} == {newest}  # the newest set, as for any upcoming race
    running = prediction_sets_shown(races=[barcelona], as_of=noon + timedelta(hours=3))[barcelona.pk]
    assert {p.batch for p in running["predictions"]["pre"]} == {newest}  # being run: still upcoming
    after = prediction_sets_shown(races=[barcelona], as_of=noon + timedelta(hours=4, minutes=1))[barcelona.pk]
    assert {p.batch for p in after["predictions"]["pre"]} == {live}  # completed: the pre-race set


QATAR_CLOCK = datetime(2026, 6, 1, tzinfo=UTC)


@in_season  # Qatar (round 22) still to come, on any date
def test_a_past_clock_uses_a_model_trained_only_on_races_before_it(active_model, second_model):
    """QA: `predict --race 2026_qatar --as-of 2026-06-01` cut the features at the clock but used the
    active model, trained through 2026-06-14 (Monaco and Barcelona, run after the clock). The set is
    made by the best version trained only on races before the clock; a live one by the active one."""
    ModelVersion.objects.filter(pk=active_model.pk).update(trained_until_date=date(2026, 6, 14))
    ModelVersion.objects.filter(pk=second_model.pk).update(trained_until_date=date(2025, 12, 7))
    ModelVersionFactory(trained_until_date=date(2024, 12, 8))  # older data, and no artifact
    qatar = _race(2026, 22)
    out = StringIO()
    call_command("predict", "--race", qatar.slug, "--as-of", "2026-06-01", stdout=out)
    clocked = Prediction.objects.filter(race=qatar, clock=QATAR_CLOCK)
    assert clocked.exists()
    assert {p.model_version_id for p in clocked} == {second_model.pk}
    assert second_model.trained_until_date < QATAR_CLOCK.date()  # before the clock: no leak
    live = prediction_generate(race=qatar)
    assert {p.model_version_id for p in live} == {active_model.pk}


@pytest.mark.slow
@in_season
def test_with_no_model_trained_before_the_clock_one_is_trained_on_the_seasons_before(
    active_model, settings, tmp_path
):
    """Only the active model (trained through 2026-06-14) exists: a clock of 2026-06-01 gets a model
    trained on the seasons before 2026, registered inactive; the active one stays active."""
    settings.MODEL_STORAGE_PATH = tmp_path / "models"
    ModelVersion.objects.filter(pk=active_model.pk).update(trained_until_date=date(2026, 6, 14))
    made = prediction_generate(race=_race(2026, 22), as_of=QATAR_CLOCK)
    (version,) = {p.model_version for p in made}
    assert version.pk != active_model.pk and not version.is_active
    assert version.train_until_season == 2025 and version.trained_until_date < QATAR_CLOCK.date()
    assert ModelVersion.objects.get(is_active=True).pk == active_model.pk
