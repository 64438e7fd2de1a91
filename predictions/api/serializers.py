"""Shapes of the prediction endpoints (OpenAPI contract); payloads come from predictions/api/selectors.py."""

from rest_framework import serializers

from ingestion.api.serializers import REF_PATTERN, DriverRef, RaceRefOut, RefName


class ExplanationOut(serializers.Serializer):
    feature = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    contribution = serializers.FloatField()


class PredictionRowOut(serializers.Serializer):
    driver = DriverRef()
    team = RefName()
    predicted_position = serializers.IntegerField()
    expected_position = serializers.FloatField()
    win_probability = serializers.FloatField()
    podium_probability = serializers.FloatField()
    points_probability = serializers.FloatField()
    dnf_probability = serializers.FloatField()
    confidence = serializers.FloatField()
    low_confidence = serializers.BooleanField()
    explanation = ExplanationOut(many=True, help_text="Top feature contributions")


class PredictionStageOut(serializers.Serializer):
    stage = serializers.ChoiceField(choices=["pre", "post"], help_text="pre / post qualifying")
    model_version = serializers.CharField()
    created_at = serializers.DateTimeField()
    as_of = serializers.DateTimeField()
    clock = serializers.DateTimeField(
        allow_null=True,
        help_text="The past clock the set was computed at (`predict --as-of`); null = computed with "
        "what was known when it was made. A set with a clock is kept in the history but never "
        "served as the current one, so the sets served here have null",
    )
    backfilled = serializers.BooleanField()
    predictions = PredictionRowOut(many=True)


class RacePredictionsOut(serializers.Serializer):
    race = RaceRefOut()
    stages = PredictionStageOut(many=True, help_text="Empty when no prediction is stored yet")


class UpcomingOut(serializers.Serializer):
    as_of = serializers.DateTimeField()
    races = RacePredictionsOut(many=True)


class AccuracyStageOut(serializers.Serializer):
    stage = serializers.ChoiceField(choices=["pre", "post"])
    model_version = serializers.CharField(allow_null=True)
    backfilled = serializers.BooleanField()
    scored_at = serializers.DateTimeField()
    drivers = serializers.IntegerField()
    mae = serializers.FloatField()
    mae_finishers = serializers.FloatField(allow_null=True)
    spearman = serializers.FloatField(allow_null=True)
    winner_hit = serializers.BooleanField()
    podium_overlap = serializers.FloatField()
    points_accuracy = serializers.FloatField()
    brier_win = serializers.FloatField()
    brier_podium = serializers.FloatField()
    brier_points = serializers.FloatField()
    metrics = serializers.JSONField()


class AccuracyOut(serializers.Serializer):
    race = RaceRefOut()
    stages = AccuracyStageOut(many=True)


class ScoredPredictionRowOut(PredictionRowOut):
    actual_position = serializers.IntegerField(
        allow_null=True,
        help_text="Finishing order (the results' position_order, the number accuracy is scored "
        "against); null when the driver has no result in the race",
    )
    actual_classified_position = serializers.IntegerField(
        allow_null=True, help_text="Official classified position; null when not classified or no result"
    )
    actual_status = serializers.CharField(allow_null=True, help_text="e.g. Finished, +1 Lap, Engine")


class ScoredStageOut(PredictionStageOut):
    made_after_race = serializers.BooleanField(
        help_text="Made at or after the race start: not a pre-race prediction (never scored)"
    )
    label = serializers.ChoiceField(
        choices=["pre_race", "backfilled", "made_after_race"],
        help_text="How the pages label the set: backfilled (made after the fact by a model trained "
        "only on earlier seasons), made_after_race, or pre_race",
    )
    predictions = ScoredPredictionRowOut(many=True)


class OverviewResultOut(serializers.Serializer):
    position_order = serializers.IntegerField()
    position = serializers.IntegerField(allow_null=True, help_text="Null unless classified")
    driver = DriverRef()
    team = RefName()
    grid = serializers.IntegerField(allow_null=True, help_text="0 = pit-lane start")
    status = serializers.CharField()


class RecentRaceOut(serializers.Serializer):
    race = RaceRefOut()
    stages = ScoredStageOut(
        many=True,
        help_text="Per stage the set the pages show: the one its accuracy record scored; unscored, "
        "the one scoring would take, else the newest (labelled made_after_race)",
    )
    results = OverviewResultOut(many=True, help_text="One car per driver, by finishing order")
    accuracy = AccuracyStageOut(
        many=True,
        help_text="The accuracy record of each shown set (as predictions/accuracy/{race_id} serves "
        "it); a stage is missing when its set was not scored (by the clock)",
    )


class OverviewOut(serializers.Serializer):
    as_of = serializers.DateTimeField(help_text="The clock: the one asked for, else now")
    upcoming = RacePredictionsOut(many=True, help_text="The next three races (items of predictions/upcoming)")
    awaiting_results = RacePredictionsOut(
        many=True, help_text="Races run (dated before the clock's day) whose results are not in yet"
    )
    recent = RecentRaceOut(many=True, help_text="The last three completed races, newest first")


class RegenerateIn(serializers.Serializer):
    stage = serializers.ChoiceField(
        choices=["pre", "post"], required=False, allow_null=True, help_text="Default: every stage available"
    )
    background = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true: queue the job and answer 202 at once (poll the job's url); "
        "false (default): regenerate inline and answer 201 with the predictions",
    )


class JobOut(serializers.Serializer):
    id = serializers.CharField(help_text="Job id (<race number>-<32 hex characters>); empty if unknown")
    race = serializers.CharField()
    stage = serializers.CharField(allow_null=True)
    mode = serializers.ChoiceField(choices=["inline", "background"])
    status = serializers.ChoiceField(choices=["queued", "running", "succeeded", "failed"])
    queued_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True, help_text="null while queued")
    finished_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_null=True, help_text="Why the job failed")
    unchanged = serializers.ListField(
        child=serializers.CharField(),
        allow_null=True,
        help_text="Once succeeded: the stages (pre / post) whose model version and inputs were those "
        "of their current set, which was kept (no new record); [] when every stage got a new set",
    )
    url = serializers.CharField(allow_null=True, help_text="This job's status (staff)")
    predictions_url = serializers.CharField(
        allow_null=True, help_text="The race's predictions, once the job succeeded"
    )


class RegenerateOut(serializers.Serializer):
    job = JobOut()
    duplicate = serializers.BooleanField(help_text="True when a regeneration ran within the window")
    predictions = RacePredictionsOut(allow_null=True)


class WhatIfIn(serializers.Serializer):
    grid = serializers.ListField(
        # Matched as sent: DRF would otherwise strip whitespace first and take "max_verstappen\n".
        child=serializers.RegexField(REF_PATTERN, max_length=64, trim_whitespace=False),
        min_length=1,
        max_length=30,
        help_text="Driver ids in grid order, pole first",
        # DRF's own words were "Ensure this field has at least 1 elements." (QA)
        error_messages={"min_length": "The grid is empty: list the drivers in grid order, pole first."},
    )


class WhatIfRowOut(PredictionRowOut):
    grid = serializers.IntegerField(help_text="The grid slot given for the driver (1 = pole)")


class WhatIfOut(serializers.Serializer):
    race = RaceRefOut()
    model_version = serializers.CharField(help_text="The post-qualifying model that predicted it")
    hindsight = serializers.BooleanField(
        help_text="The model was trained on this race's own result (a race in its training window, "
        "asked without a clock): a what-if in hindsight, not a forecast it could have made before "
        "the race. Ask with ?as_of= before the race for one as it could have been made then."
    )
    predictions = WhatIfRowOut(many=True, help_text="Best predicted position first; stored nowhere")


class ChampionshipOut(serializers.Serializer):
    season = serializers.IntegerField()
    remaining_races = serializers.ListField(
        child=serializers.CharField(),
        help_text=(
            "Rounds without results, simulated: still to run, or run and awaiting results; "
            "empty for a completed season"
        ),
    )
    n_sims = serializers.IntegerField(help_text="Simulated seasons; 0 for a completed season")
    model_version = serializers.CharField(
        allow_null=True, help_text="Model of the simulation; null for a completed season (final standings)"
    )
    drivers = serializers.ListField(
        child=serializers.JSONField(),
        help_text="driver, driver_name, team, current_points (stored standings), expected_points, "
        "title_probability, excluded (disqualified from the standings)",
    )
    teams = serializers.ListField(
        child=serializers.JSONField(),
        help_text="team, team_name, current_points (constructors' standings), expected_points, "
        "title_probability, excluded; empty before 1958",
    )
    note = serializers.CharField()


class WhatIfModelOut(serializers.Serializer):
    label = serializers.CharField(
        allow_null=True,
        help_text="The version a what-if or championship simulation runs; null when none registered by the clock can run today",
    )
    differs = serializers.BooleanField(
        help_text="Not the version serving (`serving_model`): only ever at a clock"
    )
    reason = serializers.CharField(
        allow_blank=True,
        help_text="Why the version serving then is skipped (its files pruned since, or trained on older "
        "feature definitions than this code's), as the model page says it; empty when it is not",
    )


class ModelPerformanceOut(serializers.Serializer):
    active_model = serializers.JSONField(allow_null=True)
    serving_model = serializers.CharField(
        allow_null=True,
        help_text=(
            "Label of the version predictions are made with now: the active one, or while its "
            "artifact does not load the version serving in its place (as health's model check "
            "reports); null when no version loads (predictions, what-if and simulated "
            "championships then answer 503)"
        ),
    )
    what_if_model = WhatIfModelOut(
        allow_null=True,
        help_text=(
            "The version a what-if or championship simulation runs. Now: the version serving. With "
            "`as_of`: the first version registered by then that can run today (the model page's "
            "line), which differs from the one serving then when its files were pruned since or it "
            "was trained on older feature definitions. Null when `serving_model` is. Added 2026-11-28"
        ),
    )
    backtests = serializers.JSONField(
        help_text=(
            "Per stage, the latest backtest over the standard seasons (2022-2025), else the latest "
            "of any seasons (standard_period false); results vs the baselines"
        )
    )
    features = serializers.ListField(child=serializers.JSONField(), help_text="Feature catalogue")
