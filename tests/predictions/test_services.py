"""Services and selectors against the real database: storing, never overwriting, the as-of clock,
backfill, post-race scoring, artifact fallback, what-if and the championship simulation."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.utils import timezone

from ingestion.models import Driver, QualifyingResult, Race, RaceResult, WeatherForecast
from ingestion.selectors import race_status
from predictions import selectors
from predictions.ml.artifacts import cache_clear
from predictions.models import ModelVersion, Prediction, RaceAccuracy
from predictions.services import (
    ModelUnavailable,
    championship_simulate,
    model_version_activate,
    prediction_generate,
    prediction_what_if,
    races_results_process,
)
from predictions.services.predicting import PredictionClockError, PredictionInputError, RaceRunError
from predictions.signals import predictions_changed
from tests.factories import ModelVersionFactory, PredictionFactory, RaceFactory
from tests.model_fixtures import version_activated_at, version_registered_at

pytestmark = pytest.mark.django_db


def _race(season, rnd):
    return Race.objects.get(season_id=season, round=rnd)


@pytest.fixture
def grid_race():
    """A race of next season whose qualifying is in (2026 round 7's entrants): both stages, and not
    run yet on any date (a race run gets no new live prediction)."""
    race = RaceFactory(season__year=timezone.now().year + 1)
    entrants = RaceResult.objects.filter(race=_race(2026, 7), shared_car_index=0).order_by("grid")
    for pos, entry in enumerate(entrants, start=1):
        QualifyingResult.objects.create(
            race=race, driver_id=entry.driver_id, team_id=entry.team_id, number=entry.number, position=pos
        )
    return race


def test_generate_stores_both_stages_and_never_overwrites(
    active_model, second_model, grid_race, django_capture_on_commit_callbacks
):
    race = grid_race
    received = []

    def receiver(sender, race_ids, **kw):
        received.append(race_ids)

    predictions_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            first = prediction_generate(race=race)
        model_version_activate(
            version=second_model, reason="train_models"
        )  # a changed input: a new set, the first kept
        with django_capture_on_commit_callbacks(execute=True):
            second = prediction_generate(race=race, stage="post")
    finally:
        predictions_changed.disconnect(receiver)
    entrants = QualifyingResult.objects.filter(race=race).count()
    assert {p.stage for p in first} == {"pre", "post"} and len(first) == 2 * entrants
    assert Prediction.objects.filter(race=race).count() == 3 * entrants  # nothing overwritten
    assert received == [[race.id], [race.id]]
    current = selectors.prediction_list_current(race=race)
    assert {p.batch for p in current["post"]} == {second[0].batch}
    assert {p.batch for p in current["pre"]} == {first[0].batch}
    assert [p.predicted_position for p in current["post"]] == list(range(1, entrants + 1))
    p = current["post"][0]
    assert p.explanation and {"feature", "value", "contribution"} <= set(p.explanation[0])
    assert p.low_confidence == (p.confidence < 0.7)


def _sets(race, stage):
    return Prediction.objects.filter(race=race, stage=stage).values("batch").distinct().count()


@pytest.mark.time_machine(datetime(2026, 7, 1, 12, tzinfo=UTC), tick=True)  # before round 9
def test_unchanged_inputs_keep_the_current_set_instead_of_a_duplicate(
    active_model, second_model, django_capture_on_commit_callbacks
):
    """Predicting twice with nothing changed stores one set (the second call returns it, says so and
    signals nothing); a new forecast, then a new model version, each store a new set."""
    race = _race(2026, 9)  # upcoming: pre-qualifying only, weather from the forecast
    received = []

    def receiver(sender, race_ids, **kw):
        received.append(race_ids)

    predictions_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            first = prediction_generate(race=race)
        with django_capture_on_commit_callbacks(execute=True):
            again = prediction_generate(race=race)
    finally:
        predictions_changed.disconnect(receiver)
    assert first.stored == ("pre",) and first.unchanged == ()
    assert again.stored == () and again.unchanged == ("pre",)
    assert _sets(race, "pre") == 1 and received == [[race.id]]
    assert [p.pk for p in again] == [p.pk for p in sorted(first, key=lambda p: p.predicted_position)]
    assert len({p.inputs_fingerprint for p in again}) == 1 and len(again[0].inputs_fingerprint) == 64

    WeatherForecast.objects.create(
        race=race, session="race", valid_at=datetime(2026, 7, 5, 14, tzinfo=UTC),
        fetched_at=datetime(2026, 7, 1, tzinfo=UTC), air_temperature=16, precipitation_probability=90,
        wind_speed=5, humidity=85,
    )  # fmt: skip
    wet = prediction_generate(race=race)
    assert wet.stored == ("pre",) and _sets(race, "pre") == 2
    assert wet[0].inputs_fingerprint != first[0].inputs_fingerprint
    assert prediction_generate(race=race).unchanged == ("pre",) and _sets(race, "pre") == 2

    model_version_activate(version=second_model, reason="train_models")
    newer = prediction_generate(race=race)
    assert newer.stored == ("pre",) and _sets(race, "pre") == 3
    assert newer[0].inputs_fingerprint == wet[0].inputs_fingerprint  # same inputs, another model
    current = selectors.prediction_list_current(race=race)
    assert {p.batch for p in current["pre"]} == {newer[0].batch}


def test_a_new_grid_is_a_new_set_and_each_stage_is_judged_on_its_own(active_model, grid_race):
    race = grid_race
    both = prediction_generate(race=race)
    assert set(both.stored) == {"pre", "post"}
    post_only = prediction_generate(race=race, stage="post")
    assert post_only.unchanged == ("post",) and _sets(race, "post") == 1
    # A changed grid (a penalty applied after qualifying) is a changed input.
    first, second = QualifyingResult.objects.filter(race=race).order_by("position")[:2]
    QualifyingResult.objects.filter(pk=first.pk).update(position=second.position)
    QualifyingResult.objects.filter(pk=second.pk).update(position=first.position)
    regrid = prediction_generate(race=race)
    assert set(regrid.stored) == {"pre", "post"} and _sets(race, "post") == 2


def test_a_race_run_gets_no_new_live_set_only_a_backfill(active_model, race_weather):
    """A live prediction made after the race would come from what was learnt from it, and a past
    clock cannot stand in for "made before": both refused; its honest set is a backfill."""
    race = _race(2025, 24)
    with pytest.raises(RaceRunError, match=r"it has been run \(its results are in\)"):
        prediction_generate(race=race, stage="pre")
    with pytest.raises(PredictionClockError, match="has been run since"):
        prediction_generate(race=race, stage="pre", as_of=datetime(2025, 12, 1, tzinfo=UTC))
    backfilled = prediction_generate(race=race, stage="pre", backfilled=True, version=active_model)
    assert backfilled.stored == ("pre",) and backfilled[0].backfilled
    assert _sets(race, "pre") == 1


def test_a_race_run_is_refused_with_where_its_pre_race_set_is(ergast_data):
    """The refusal pointed every race to its accuracy record (with a literal `<race>`), which a race
    awaiting its results does not have yet (404 there): each case now names its own place."""
    from predictions.services.predicting import race_not_run_check

    with pytest.raises(RaceRunError) as run:
        race_not_run_check(race=_race(2025, 24))
    assert "GET /api/v1/predictions/accuracy/2025_uae)" in str(run.value) and "<race>" not in str(run.value)
    awaiting = _race(2026, 10)  # run, no results in the data, no prediction stored
    with pytest.raises(RaceRunError, match=r"^it started at ") as started:
        race_not_run_check(race=awaiting)
    message = str(started.value)
    assert "no pre-race prediction was stored: once the results are in, the post-race step backfills" in (
        message
    )
    assert "accuracy" not in message and "current set" not in message
    # with a set stored before the start, that set is where to look (QA: it was named when none existed)
    entry = RaceResult.objects.filter(race__season_id=2026, race__round=7).first()
    PredictionFactory(race=awaiting, driver_id=entry.driver_id, team_id=entry.team_id)
    with pytest.raises(RaceRunError) as stored:
        race_not_run_check(race=awaiting)
    assert f"its current set (GET /api/v1/predictions/race/{awaiting.slug}) is its pre-race" in str(
        stored.value
    )


def test_current_predictions_query_count(active_model, grid_race, django_assert_max_num_queries):
    race = grid_race
    prediction_generate(race=race)
    with django_assert_max_num_queries(3):
        current = selectors.prediction_list_current(race=race)
        names = [p.driver.family_name + p.team.name for rows in current.values() for p in rows]
    assert names


@pytest.mark.time_machine(datetime(2026, 6, 20, 12, tzinfo=UTC), tick=True)  # before round 8
def test_upcoming_race_has_only_the_pre_qualifying_stage(active_model):
    race = _race(2026, 8)
    with pytest.raises(PredictionInputError, match="qualifying is not in yet"):
        prediction_generate(race=race, stage="post")
    rows = prediction_generate(race=race)
    assert {p.stage for p in rows} == {"pre"}
    # the entry list is the latest race's: includes the new driver and both new teams
    refs = {p.driver.ref for p in rows}
    assert "lindblad" in refs and {p.team.ref for p in rows} >= {"cadillac", "audi"}


@pytest.mark.time_machine(datetime(2026, 7, 1, 12, tzinfo=UTC), tick=True)  # before round 9
def test_forecast_is_used_for_an_upcoming_race_and_missing_weather_still_predicts(active_model):
    race = _race(2026, 9)
    no_weather = prediction_generate(race=race)
    WeatherForecast.objects.create(
        race=race,
        session="race",
        valid_at=datetime(2026, 7, 5, 14, tzinfo=UTC),
        fetched_at=datetime(2026, 7, 1, tzinfo=UTC),
        air_temperature=16,
        precipitation_probability=90,
        wind_speed=5,
        humidity=85,
    )
    wet = prediction_generate(race=race)
    assert len(wet) == len(no_weather)
    by_driver = {p.driver_id: p.win_probability for p in no_weather}
    assert any(abs(by_driver[p.driver_id] - p.win_probability) > 1e-9 for p in wet)


def test_a_run_race_is_predicted_with_the_forecast_issued_before_its_start(ergast_data):
    """QA: backfilled "honest pre-race" predictions used the race's own observed weather. With a
    forecast issued before the start stored, that forecast is the weather; one issued after the
    start does not count; with none before the start it has no weather (NaN, weather_missing = 1) —
    never the observed race weather (audit: it stood in, track temperature included)."""
    from datetime import timedelta

    from ingestion.models import RaceWeather
    from ingestion.selectors import race_session_starts
    from predictions.features.frames import f1_frames_load
    from predictions.services.predicting import race_entries, race_features_build

    race = _race(2025, 24)
    start = race_session_starts(race=race)["race"]
    RaceWeather.objects.update_or_create(
        race=race,
        defaults={
            "air_temperature_mean": 30.0,
            "humidity_mean": 40.0,
            "wind_speed_mean": 2.0,
            "rainfall_share": 0.0,
            "is_wet": False,
        },
    )
    forecast = {"session": "race", "valid_at": start, "wind_speed": 3.0}
    WeatherForecast.objects.create(
        race=race,
        fetched_at=start - timedelta(days=1),
        air_temperature=20,
        precipitation_probability=80,
        humidity=70,
        **forecast,
    )
    WeatherForecast.objects.create(  # issued once the race had started: not a forecast to predict it with
        race=race,
        fetched_at=start + timedelta(hours=1),
        air_temperature=25,
        precipitation_probability=10,
        humidity=50,
        **forecast,
    )
    entries, _ = race_entries(race=race)

    def weather(frames):
        rows = race_features_build(race=race, entries=entries, frames=frames)
        return (
            rows[["weather_air_temperature", "weather_humidity", "weather_rain"]]
            .drop_duplicates()
            .values.tolist()
        )

    assert weather(None) == [[20.0, 70.0, 0.8]]
    assert weather(f1_frames_load(since_season=2024)) == [[20.0, 70.0, 0.8]]  # frames handed in
    WeatherForecast.objects.filter(fetched_at__lt=start).delete()
    rows = race_features_build(race=race, entries=entries, frames=f1_frames_load(since_season=2024))
    assert rows["weather_missing"].eq(1.0).all()
    weather_columns = [
        "weather_air_temperature",
        "weather_track_temperature",
        "weather_humidity",
        "weather_rain",
    ]
    assert rows[weather_columns].isna().all().all()
    assert rows["weather_is_wet"].isna().all()


def test_as_of_clock_upcoming_awaiting_and_recent(ergast_data):
    today = datetime(2026, 11, 26, 12, tzinfo=UTC)
    upcoming = selectors.race_list_upcoming(as_of=today)
    assert [r.round for r in upcoming] == [22, 23]  # Qatar 29 Nov, Abu Dhabi 6 Dec
    awaiting = selectors.race_list_awaiting_results(as_of=today)
    assert [r.round for r in awaiting] == list(range(8, 22))
    assert race_status(race=_race(2026, 10), as_of=today) == "awaiting_results"
    recent = selectors.race_list_recent_completed(as_of=today)
    assert [(r.season_id, r.round) for r in recent] == [(2026, 7), (2026, 6), (2026, 5)]
    demo = datetime(2026, 6, 1, tzinfo=UTC)
    assert [r.round for r in selectors.race_list_upcoming(as_of=demo)] == [6, 7, 8]
    assert [r.round for r in selectors.race_list_recent_completed(as_of=demo)] == [5, 4, 3]
    assert race_status(race=_race(2026, 6), as_of=demo) == "scheduled"


def test_backfill_uses_a_model_trained_only_on_earlier_seasons(active_model, settings):
    """active_model is trained 2023-2024 and registered as such; a 2025 race with no stored
    prediction gets a backfilled one from it, scored, and shows in the overview."""
    settings.AUTO_RETRAIN_ENABLED = False
    race = _race(2025, 24)
    with pytest.raises(RaceRunError):  # made today it would be no pre-race prediction
        prediction_generate(race=race, stage="pre")
    entrants = RaceResult.objects.filter(race=race, shared_car_index=0).values("driver_id").distinct()
    summary = races_results_process(races=[race], as_of=datetime(2025, 12, 8, tzinfo=UTC))
    assert summary["races"][race.slug]["backfilled"] is True and summary["retrained"] is None
    preds = Prediction.objects.filter(race=race, backfilled=True)
    assert preds.count() == 2 * entrants.count()
    assert {p.model_version.train_until_season for p in preds} == {2024}
    records = {r.stage: r for r in RaceAccuracy.objects.filter(race=race)}
    assert set(records) == {"pre", "post"}
    # accuracy recomputed by hand from the stored rows
    post = {p.driver_id: p.predicted_position for p in preds.filter(stage="post")}
    actual = dict(RaceResult.objects.filter(race=race).values_list("driver_id", "position_order"))
    mae = sum(abs(post[d] - actual[d]) for d in actual) / len(actual)
    assert records["post"].mae == pytest.approx(mae)
    acc = selectors.race_accuracy_get(race=race)
    assert acc["post"].pk == records["post"].pk
    overview = selectors.prediction_overview(as_of=datetime(2025, 12, 8, tzinfo=UTC))
    assert overview["recent"][0]["race"] == race
    assert overview["recent"][0]["accuracy"]["post"].mae == pytest.approx(mae)


def test_scoring_a_race_signals_its_predictions_changed(
    active_model, settings, django_capture_on_commit_callbacks
):
    """A new accuracy record changes what the race's pages and the API show, so scoring sends the
    same signal as new predictions (the caches drop the race's accuracy and the overview)."""
    from predictions.services.post_race import race_accuracy_score

    race = _race(2025, 23)
    prediction_generate(race=race, stage="post", backfilled=True, version=active_model)
    received = []

    def receiver(sender, race_ids, **kw):
        received.append((sender, race_ids))

    predictions_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            records = race_accuracy_score(race=race)
    finally:
        predictions_changed.disconnect(receiver)
    assert [r.stage for r in records] == ["post"]
    assert received == [(RaceAccuracy, [race.id])]


def test_overview_query_count_is_bounded(active_model, django_assert_max_num_queries):
    with django_assert_max_num_queries(40):
        overview = selectors.prediction_overview(as_of=datetime(2026, 6, 20, tzinfo=UTC))
    assert [e["race"].round for e in overview["upcoming"]] == [8, 9, 10]


def _activate_unusable_version(active_model, *, label: str, artifact) -> ModelVersion:
    """Register `artifact` as a newer version and make it the active one (the good one stays)."""
    version = ModelVersion.objects.create(
        label=label,
        train_from_season=2023,
        train_until_season=2025,
        trained_until_date=active_model.trained_until_date,
        rows=1,
        data_fingerprint="x",
        artifact_path=str(artifact),
    )
    ModelVersion.objects.filter(pk=active_model.pk).update(is_active=False)
    ModelVersion.objects.filter(pk=version.pk).update(is_active=True)
    return version


def test_corrupt_artifact_falls_back_to_the_last_good_version(active_model, grid_race, tmp_path):
    bad_path = tmp_path / "broken.joblib"
    bad_path.write_bytes(b"not a model")
    _activate_unusable_version(active_model, label="vbroken", artifact=bad_path)
    rows = prediction_generate(race=grid_race, stage="pre")
    assert {p.model_version_id for p in rows} == {active_model.pk}
    # nothing usable at all: a clear error
    ModelVersion.objects.filter(pk=active_model.pk).update(artifact_path=str(tmp_path / "missing.joblib"))
    cache_clear()
    with pytest.raises(ModelUnavailable, match="train_models"):
        prediction_generate(race=grid_race, stage="pre")
    cache_clear()


def test_an_artifact_from_an_older_engine_is_refused_with_a_retrain_hint(active_model, grid_race, tmp_path):
    """A model set whose inputs no longer match the code (an older ARTIFACT_FORMAT) is not scored
    with the wrong columns: it is refused with a clear reason and the last good version is used."""
    import joblib

    from predictions.ml.artifacts import ArtifactError, ModelBundle, bundle_load

    old_path = tmp_path / "old.joblib"
    joblib.dump(ModelBundle(label="vold", stages={}, format=1), old_path)
    with pytest.raises(ArtifactError, match=r"format 1.*retrain with `manage\.py train_models`"):
        bundle_load(old_path, label="vold")
    _activate_unusable_version(active_model, label="vold", artifact=old_path)
    rows = prediction_generate(race=grid_race, stage="pre")
    assert {p.model_version_id for p in rows} == {active_model.pk}
    cache_clear()


def test_what_if_grid(active_model):
    race = _race(2026, 7)
    entrants = list(
        RaceResult.objects.filter(race=race).order_by("-position_order").values_list("driver__ref", flat=True)
    )
    before = Prediction.objects.count()
    out = prediction_what_if(race=race, grid=entrants)  # reversed finishing order
    assert Prediction.objects.count() == before  # not stored
    assert len(out) == len(entrants)
    assert sum(r["win_probability"] for r in out) == pytest.approx(1.0)
    assert [r["predicted_position"] for r in out] == list(range(1, len(out) + 1))
    assert {r["driver"]: r["grid"] for r in out}[entrants[0]] == 1
    with pytest.raises(PredictionInputError, match="unknown driver refs: nobody"):
        prediction_what_if(race=race, grid=[*entrants[:-1], "nobody"])
    with pytest.raises(PredictionInputError, match="more than once"):
        prediction_what_if(race=race, grid=[entrants[0], entrants[0]])


def test_championship_simulation(active_model):
    out = championship_simulate(season=2026, n_sims=500)
    assert len(out["remaining_races"]) == 16
    assert sum(d["title_probability"] for d in out["drivers"]) == pytest.approx(1.0, abs=1e-3)
    assert sum(t["title_probability"] for t in out["teams"]) == pytest.approx(1.0, abs=1e-3)
    for d in out["drivers"]:
        assert d["expected_points"] >= d["current_points"]
    assert Driver.objects.filter(ref=out["drivers"][0]["driver"]).exists()


def test_activate_rolls_back_and_refuses_a_broken_artifact(active_model, tmp_path, admin_client):
    from predictions.ml.artifacts import ArtifactError
    from predictions.services import model_version_activate

    newer = ModelVersion.objects.create(
        label="vnewer-broken",
        train_from_season=2023,
        train_until_season=2025,
        trained_until_date=active_model.trained_until_date,
        rows=1,
        data_fingerprint="x",
        artifact_path=str(tmp_path / "gone.joblib"),
    )
    with pytest.raises(ArtifactError, match="missing"):
        model_version_activate(version=newer, reason="train_models")
    assert list(ModelVersion.objects.filter(is_active=True)) == [active_model]
    # the admin action reports the refusal and keeps the active version
    response = admin_client.post(
        "/admin/predictions/modelversion/",
        {"action": "activate_version", "_selected_action": [newer.pk]},
        follow=True,
    )
    assert response.status_code == 200 and b"Not activated" in response.content
    ModelVersion.objects.filter(pk=active_model.pk).update(is_active=False)
    response = admin_client.post(
        "/admin/predictions/modelversion/",
        {"action": "activate_version", "_selected_action": [active_model.pk]},
        follow=True,
    )
    assert b"is now the active model" in response.content
    assert list(ModelVersion.objects.filter(is_active=True)) == [active_model]


def test_a_version_trained_without_calibration_is_never_activated(tmp_path):
    """A one-season version registered before model_train refused such windows (its ranking layer
    fitted on the base models' own rows): prune_models --keep 1 could leave it as the only one."""
    from predictions.ml.artifacts import ArtifactError
    from predictions.services import model_version_activate

    version = ModelVersion.objects.create(
        label="v-1996-1996",
        train_from_season=1996,
        train_until_season=1996,
        trained_until_date=date(1996, 10, 13),
        rows=1,
        data_fingerprint="x",
        metrics={"calibration_from_season": None},
        artifact_path=str(tmp_path / "v.joblib"),
    )
    with pytest.raises(
        ArtifactError, match=r"^v-1996-1996 was trained without a calibration block \(window 1996-1996"
    ):
        model_version_activate(version=version, reason="train_models")
    assert not ModelVersion.objects.filter(is_active=True).exists()


def test_a_past_clock_never_takes_a_version_that_could_not_serve(tmp_path):
    """Review finding: the what-if and the model page at a clock took the version trained on the
    latest data, even one fitted without a calibration block (which activation refuses: it never
    served) or, for running it, one trained on older feature definitions than the inputs built now."""
    from predictions.features.registry import FEATURES_FORMAT
    from predictions.services.training import (
        ModelUnavailable,
        model_bundle_at,
        model_version_at,
        model_versions_at,
    )

    def version(label, until, **fields):  # no artifact file: never loaded here
        made = ModelVersionFactory(label=label, trained_until_date=until, **fields)
        return version_registered_at(made, datetime(2025, 1, 1, tzinfo=UTC))

    old_format = version("v-old", date(2024, 12, 8), params={"features_format": FEATURES_FORMAT - 1})
    version("v-uncalibrated", date(2024, 12, 9), metrics={"calibration_from_season": None})
    clock = datetime(2025, 3, 1, tzinfo=UTC)
    assert [v.label for v in model_versions_at(clock=clock)] == ["v-old"]
    assert model_version_at(clock=clock) == old_format  # it served then: the model page names it
    with pytest.raises(ModelUnavailable, match="v-old was trained on older feature definitions"):
        model_bundle_at(clock=clock)  # but its models cannot take today's inputs


def test_activation_is_logged_and_a_rollback_moves_the_serving_version(active_model, second_model):
    """Each activation is logged (`ModelActivation`): the version serving now at a clock is the one
    activated last, a roll-back to an older version included — not the newest registered of the
    latest data, which the registry used to infer for lack of an activation history."""
    from predictions.models import ModelActivation
    from predictions.services.training import model_version_activate, model_versions_at

    ModelVersion.objects.filter(pk=active_model.pk).update(is_active=False)
    before = timezone.now()
    model_version_activate(version=second_model, reason="train_models")
    second = ModelActivation.objects.get(version=second_model)
    assert before <= second.activated_at <= timezone.now()
    model_version_activate(version=ModelVersion.objects.get(pk=active_model.pk), reason="admin_rollback")
    first = ModelActivation.objects.get(version=active_model)
    assert ModelVersion.objects.get(pk=active_model.pk).is_active and first.activated_at > second.activated_at
    assert [(a.version_id, a.reason) for a in ModelActivation.objects.all()] == [
        (active_model.pk, "admin_rollback"),
        (second_model.pk, "train_models"),
    ]
    assert model_versions_at(clock=timezone.now())[0] == active_model  # registered first, rolled back to


def test_the_version_serving_at_a_past_clock_is_the_one_activated_last_before_it(tmp_path):
    """A activated at t1, B at t2, A again at t3 (a roll-back); C registered with `--no-activate`,
    trained on the latest data of all. Before the activation history, C was taken at any clock after
    its registration and B after t3."""
    from predictions.services.training import model_version_at, model_versions_at

    def version(label, *, until, registered, activated=()):  # no artifact file: never loaded here
        made = version_registered_at(ModelVersionFactory(label=label, trained_until_date=until), registered)
        return version_activated_at(made, *activated)

    t1, t2, t3 = (datetime(2025, m, 1, tzinfo=UTC) for m in (1, 3, 6))
    a = version("v-a", until=date(2024, 12, 8), registered=t1, activated=(t1, t3))
    b = version("v-b", until=date(2025, 2, 23), registered=t2, activated=(t2,))
    version("v-c", until=date(2025, 3, 9), registered=datetime(2025, 3, 15, tzinfo=UTC))

    def labels(clock):
        return [v.label for v in model_versions_at(clock=clock)]

    # Between t1 and t2: only A registered, activated at t1.
    assert labels(datetime(2025, 2, 1, tzinfo=UTC)) == ["v-a"]
    # Between t2 and t3: B, activated last before the clock; A (activated at t1) next; C, never
    # activated, after both.
    assert labels(datetime(2025, 4, 1, tzinfo=UTC)) == ["v-b", "v-a", "v-c"]
    assert model_version_at(clock=datetime(2025, 4, 1, tzinfo=UTC)) == b
    # After t3: A, rolled back to, although B and C were registered since and trained on later data.
    assert labels(datetime(2025, 7, 1, tzinfo=UTC)) == ["v-a", "v-b", "v-c"]
    assert model_version_at(clock=datetime(2025, 7, 1, tzinfo=UTC)) == a
    # Strictly before: at t2 itself B's activation does not count yet.
    assert model_version_at(clock=t2) == a


def test_races_before_1996_are_refused_with_a_clear_input_error(active_model):
    """The features start in 1996 (HISTORY_FROM_SEASON): an earlier race used to reach the model with
    zero rows and fail with sklearn's "Found array with 0 sample(s)"."""
    from predictions.services.predicting import predictions_backfill

    for season, rnd in [(1950, 1), (1995, 1)]:
        with pytest.raises(
            PredictionInputError, match=f"available from season 1996; this race is in {season}"
        ):
            prediction_generate(race=_race(season, rnd))
        with pytest.raises(PredictionInputError, match="available from season 1996"):
            prediction_what_if(race=_race(season, rnd), grid=["fangio", "farina"])
    # A backfilled prediction needs a model trained on an earlier season of that history.
    with pytest.raises(PredictionInputError, match="backfilled predictions are available from season 1997"):
        prediction_generate(race=_race(1996, 1), backfilled=True)
    # The backfill skips what it cannot predict honestly instead of failing on it.
    assert predictions_backfill(races=[_race(1995, 17), _race(1996, 16)]) == []
    assert not Prediction.objects.filter(race__season_id__lte=1996).exists()
    assert ModelVersion.objects.count() == 1  # no model was trained for the 1996 backfill


def test_a_race_left_without_results_before_later_ones_is_still_awaiting_them(ergast_data, client):
    """Round 6 of 2026 (Barcelona) without results — rejected by validation, a failed sync — while
    round 7 has its own: Barcelona is awaiting results, not dropped from every list because a later
    race completed."""
    today = datetime(2026, 11, 26, 12, tzinfo=UTC)
    barcelona = _race(2026, 6)
    RaceResult.objects.filter(race=barcelona).delete()
    assert race_status(race=barcelona, as_of=today) == "awaiting_results"
    awaiting = selectors.race_list_awaiting_results(as_of=today)
    assert [r.round for r in awaiting] == [6, *range(8, 22)]
    recent = selectors.race_list_recent_completed(as_of=today)
    assert [r.round for r in recent] == [7, 5, 4]
    body = client.get("/api/v1/predictions/overview", {"as_of": "2026-11-26T12:00:00Z"}).json()
    assert body["awaiting_results"][0]["race"]["id"] == barcelona.slug
    # a hole in an older season is history, not a race awaiting results
    RaceResult.objects.filter(race=_race(2025, 6)).delete()
    assert [r.round for r in selectors.race_list_awaiting_results(as_of=today)] == [6, *range(8, 22)]
