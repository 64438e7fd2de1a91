"""Response and query-parameter shapes of the data endpoints (the OpenAPI contract).

Payloads are built as dicts by ingestion/api/selectors.py and cached rendered; these serializers
document them (and validate query parameters), so keep both in step — schemathesis checks that.
"""

import re

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from f1site.api import SEASON_FIELD_KW, PageParamsSerializer, QueryIntegerField, page_serializer
from ingestion.selectors import RaceStatus

# A driver/team id: the Ergast ref, matched whole. Mostly lower case, but real refs carry capitals
# (`Cannoc`, `scott_Brown`, `Changy`), so both cases are accepted; every ref starts with a letter.
REF_PATTERN = re.compile(r"\A[A-Za-z][A-Za-z0-9_\-]{0,63}\Z")


class SeasonPageParams(PageParamsSerializer):
    season = QueryIntegerField(required=False, help_text="Season year", **SEASON_FIELD_KW)


class StandingsParams(serializers.Serializer):
    season = QueryIntegerField(required=False, help_text="Season (default: latest)", **SEASON_FIELD_KW)
    round = QueryIntegerField(
        required=False, min_value=1, max_value=40, help_text="Round (default: latest of the season)"
    )


class AnalyticsParams(serializers.Serializer):
    season = QueryIntegerField(required=False, help_text="Only this season", **SEASON_FIELD_KW)


class RefName(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()


class DriverRef(RefName):
    code = serializers.CharField(allow_blank=True)


class CircuitOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    locality = serializers.CharField(allow_blank=True)
    country = serializers.CharField(allow_blank=True)
    latitude = serializers.FloatField(allow_null=True)
    longitude = serializers.FloatField(allow_null=True)
    circuit_type = serializers.CharField()
    length_km = serializers.FloatField(
        allow_null=True,
        help_text="Lap length of the circuit's current (or last-used) Grand Prix layout; a race run on "
        "an older layout (2020 Sakhir's outer loop) gets this value too",
    )


class RaceRefOut(serializers.Serializer):
    # A race as other payloads (predictions, accuracy, what-if) refer to it. (A comment, not a
    # docstring: drf-spectacular would publish a docstring as the component's description.)
    id = serializers.CharField()
    season = serializers.IntegerField()
    round = serializers.IntegerField()
    name = serializers.CharField()
    date = serializers.DateField()
    start = serializers.DateTimeField(allow_null=True)
    status = serializers.ChoiceField(choices=RaceStatus.CHOICES)


class RaceSummaryOut(RaceRefOut):
    # `id` keeps its place first (DRF orders an overridden field where the base declared it).
    id = serializers.CharField(help_text="Race id, e.g. 2025_bahrain")
    circuit = CircuitOut()


RacePageOut = page_serializer(RaceSummaryOut, "RacePage")


class ScheduleOut(serializers.Serializer):
    fp1 = serializers.DateTimeField(allow_null=True)
    fp2 = serializers.DateTimeField(allow_null=True)
    fp3 = serializers.DateTimeField(allow_null=True)
    sprint_qualifying = serializers.DateTimeField(allow_null=True)
    sprint = serializers.DateTimeField(allow_null=True)
    qualifying = serializers.DateTimeField(allow_null=True)
    race = serializers.DateTimeField(allow_null=True)


class ClassificationOut(serializers.Serializer):
    position = serializers.IntegerField(allow_null=True)
    position_text = serializers.CharField()
    position_order = serializers.IntegerField()
    driver = DriverRef()
    team = RefName()
    number = serializers.IntegerField()
    grid = serializers.IntegerField(allow_null=True)
    points = serializers.FloatField(allow_null=True)
    laps = serializers.IntegerField()
    time = serializers.CharField(allow_blank=True)
    fastest_lap_time = serializers.CharField(allow_blank=True)
    status = serializers.CharField()


class QualifyingOut(serializers.Serializer):
    position = serializers.IntegerField()
    driver = DriverRef()
    team = RefName()
    number = serializers.IntegerField()
    q1 = serializers.CharField(allow_blank=True)
    q2 = serializers.CharField(allow_blank=True)
    q3 = serializers.CharField(allow_blank=True)


class PracticeRowOut(serializers.Serializer):
    position = serializers.IntegerField(allow_null=True)
    driver = DriverRef()
    team = RefName()
    time = serializers.CharField(allow_blank=True)
    laps = serializers.IntegerField(allow_null=True)


class PracticeSessionOut(serializers.Serializer):
    session = serializers.CharField(help_text="FP1, FP2 or FP3")
    results = PracticeRowOut(many=True)


class ObservedWeatherOut(serializers.Serializer):
    source = serializers.CharField()
    samples = serializers.IntegerField()
    air_temperature_mean = serializers.FloatField(allow_null=True)
    track_temperature_mean = serializers.FloatField(allow_null=True)
    humidity_mean = serializers.FloatField(allow_null=True)
    wind_speed_mean = serializers.FloatField(allow_null=True)
    rainfall_share = serializers.FloatField(allow_null=True)
    is_wet = serializers.BooleanField(allow_null=True)


class ForecastOut(serializers.Serializer):
    session = serializers.CharField()
    valid_at = serializers.DateTimeField()
    fetched_at = serializers.DateTimeField()
    air_temperature = serializers.FloatField(allow_null=True)
    precipitation_probability = serializers.FloatField(allow_null=True)
    precipitation_mm = serializers.FloatField(allow_null=True)
    wind_speed = serializers.FloatField(allow_null=True)
    humidity = serializers.FloatField(allow_null=True)


class WeatherOut(serializers.Serializer):
    observed = ObservedWeatherOut(allow_null=True)
    forecasts = ForecastOut(many=True, help_text="Latest forecast per session")


class RaceDetailOut(RaceSummaryOut):
    removed_upstream_at = serializers.DateTimeField(
        allow_null=True,
        help_text=(
            "When the sync found the race no longer on its season's calendar upstream (e.g. cancelled; "
            "status removed_upstream, not in the race lists, data kept); null for a race on the calendar"
        ),
    )
    url = serializers.CharField(allow_blank=True)
    schedule = ScheduleOut()
    results = ClassificationOut(many=True)
    sprint = ClassificationOut(many=True)
    qualifying = QualifyingOut(many=True)
    practice = PracticeSessionOut(many=True)
    weather = WeatherOut()


class DriverOut(serializers.Serializer):
    id = serializers.CharField(help_text="Driver id (Ergast driverRef), e.g. max_verstappen")
    code = serializers.CharField(allow_blank=True)
    permanent_number = serializers.IntegerField(allow_null=True)
    given_name = serializers.CharField()
    family_name = serializers.CharField()
    name = serializers.CharField()
    date_of_birth = serializers.DateField(allow_null=True)
    nationality = serializers.CharField(allow_blank=True)
    url = serializers.CharField(allow_blank=True)


DriverPageOut = page_serializer(DriverOut, "DriverPage")


class TeamOut(serializers.Serializer):
    id = serializers.CharField(help_text="Team id (Ergast constructorRef), e.g. red_bull")
    name = serializers.CharField()
    nationality = serializers.CharField(allow_blank=True)
    url = serializers.CharField(allow_blank=True)


TeamPageOut = page_serializer(TeamOut, "TeamPage")


# The career (drivers/{id}, teams/{id}) and the season aggregates (analytics/{driver,team}/{id})
# count races, entries, wins and podiums alike: the career is the sum of the seasons.
_RACES_HELP = "Races entered (distinct races)"
_ENTRIES_HELP = "Race-result rows: a team's cars (usually two per race), a driver's cars (1950s shared cars)"
_WINS_HELP = (
    "Races won: a 1950s winning car shared by two drivers is one win of its team and one of each driver"
)
_PODIUMS_HELP = (
    "Cars on the podium (each car of a team; a 1950s shared car once for its team, "
    "once for each of its drivers)"
)


class CareerOut(serializers.Serializer):
    # A driver's or team's whole record from the race results (drivers/{id}, teams/{id}).
    seasons = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Seasons with a race result, oldest first: each is a `season` for "
        "analytics/driver/{id}?season= (analytics/team/{id}?season=), drivers?season= and teams?season=",
    )
    first_season = serializers.IntegerField(allow_null=True, help_text="null without a race result")
    last_season = serializers.IntegerField(allow_null=True, help_text="null without a race result")
    races = serializers.IntegerField(help_text=_RACES_HELP)
    entries = serializers.IntegerField(help_text=_ENTRIES_HELP)
    starts = serializers.IntegerField(
        help_text="Races in which one of its cars took the start (a non-qualifier, a withdrawn or "
        "excluded entry is no start)"
    )
    wins = serializers.IntegerField(help_text=_WINS_HELP)
    podiums = serializers.IntegerField(help_text=_PODIUMS_HELP)
    poles = serializers.IntegerField(
        help_text="Races started from pole position (grid 1 in the race results); a driver's only "
        "in the car he started, not one he took over (1950s shared cars)"
    )
    points = serializers.FloatField(
        help_text="All points scored, Grand Prix plus sprint (race_points + sprint_points): the sum of "
        "the analytics' seasons, not a championship total (dropped scores, best-car rules)"
    )
    race_points = serializers.FloatField(help_text="Grand Prix points only")
    sprint_points = serializers.FloatField(help_text="Sprint points only")


class RaceBriefOut(serializers.Serializer):
    id = serializers.CharField(help_text="Race id (races/{race_id}), e.g. 2025_abu_dhabi")
    season = serializers.IntegerField()
    round = serializers.IntegerField()
    name = serializers.CharField()
    date = serializers.DateField()


class EntityLinksOut(serializers.Serializer):
    analytics = serializers.CharField(
        help_text="Path of the season aggregates and metrics (add ?season= for one of `career.seasons`)"
    )


class DriverDetailOut(DriverOut):
    career = CareerOut()
    latest_team = RefName(allow_null=True, help_text="The team of the driver's latest race; null without one")
    latest_race = RaceBriefOut(
        allow_null=True, help_text="The driver's latest race (by date); null without one"
    )
    links = EntityLinksOut()


class TeamDetailOut(TeamOut):
    career = CareerOut()
    latest_drivers = DriverRef(
        many=True, help_text="The drivers of the team's latest race, in finishing order; empty without one"
    )
    latest_race = RaceBriefOut(
        allow_null=True, help_text="The team's latest race (by date); null without one"
    )
    links = EntityLinksOut()


class StandingsRaceOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    date = serializers.DateField()


class DriverStandingOut(serializers.Serializer):
    position = serializers.IntegerField(allow_null=True)
    position_text = serializers.CharField(allow_blank=True)
    driver = DriverRef()
    team = RefName(allow_null=True)
    points = serializers.FloatField()
    wins = serializers.IntegerField()


class TeamStandingOut(serializers.Serializer):
    position = serializers.IntegerField(allow_null=True)
    position_text = serializers.CharField(allow_blank=True)
    team = RefName()
    points = serializers.FloatField()
    wins = serializers.IntegerField()


class StandingsOut(serializers.Serializer):
    season = serializers.IntegerField()
    round = serializers.IntegerField()
    race = StandingsRaceOut(help_text="The race these standings follow")
    drivers = DriverStandingOut(many=True)
    teams = TeamStandingOut(many=True)


class SeasonAggregateOut(serializers.Serializer):
    season = serializers.IntegerField()
    races = serializers.IntegerField(help_text=_RACES_HELP)
    entries = serializers.IntegerField(help_text=_ENTRIES_HELP)
    wins = serializers.IntegerField(help_text=_WINS_HELP)
    podiums = serializers.IntegerField(help_text=_PODIUMS_HELP)
    points = serializers.FloatField(
        help_text="Championship points scored: Grand Prix plus sprint points (race_points + sprint_points), "
        "as the standings count them"
    )
    race_points = serializers.FloatField(help_text="Grand Prix points only")
    sprint_points = serializers.FloatField(help_text="Sprint points only (0 in seasons without sprints)")
    classified = serializers.IntegerField()
    not_classified = serializers.IntegerField()
    poles = serializers.IntegerField(
        help_text="Races started from pole position (grid 1), from the race results: every season has "
        "them (qualifying classifications start in 1994, with gaps); a driver's only in the car he "
        "started, not one he took over (1950s shared cars)"
    )
    average_finish = serializers.FloatField(allow_null=True)
    average_grid = serializers.FloatField(allow_null=True)
    best_finish = serializers.IntegerField(allow_null=True)


# The analytics app's metrics (docs/analytics.md). Every key is listed; the metrics that refer to
# races, drivers or teams are typed, so that the internal primary keys they also carry (kept for
# existing clients, no endpoint takes them) are marked deprecated beside the public ids to use.
_PK_DEPRECATED = "Deprecated: the internal database {what}, which no endpoint takes; use `{use}`."
METRIC_HELP = "See docs/analytics.md; absent when `available` is false"


@extend_schema_serializer(deprecate_fields=["teammate_id"])
class TeammateGapRaceOut(serializers.Serializer):
    race = serializers.CharField(help_text="Race id, e.g. 2026_australia")
    round = serializers.IntegerField()
    teammate_id = serializers.IntegerField(
        help_text=_PK_DEPRECATED.format(what="key of the team-mate", use="teammate.id")
    )
    teammate = DriverRef(help_text="The team-mate in that race (`id` as analytics/driver/{id} takes it)")
    session = serializers.CharField(
        allow_null=True, help_text="Q3, Q2 or Q1: the deepest session both set a time in; null if none"
    )
    gap_pct = serializers.FloatField(allow_null=True, help_text="Negative = faster than the team-mate")
    ahead = serializers.BooleanField(help_text="Qualified ahead of the team-mate")


class TeammateGapOut(serializers.Serializer):
    races = serializers.IntegerField()
    median_gap_pct = serializers.FloatField(allow_null=True)
    ahead = serializers.IntegerField()
    behind = serializers.IntegerField()
    per_race = TeammateGapRaceOut(many=True)


@extend_schema_serializer(deprecate_fields=["wet_race_ids"])
class WetWeatherOut(serializers.Serializer):
    wet_races = serializers.IntegerField(help_text="Wet races counted (the number)")
    dry_races = serializers.IntegerField()
    wet_delta_vs_teammate = serializers.FloatField(allow_null=True)
    dry_delta_vs_teammate = serializers.FloatField(allow_null=True)
    rating = serializers.FloatField(allow_null=True)
    wet_race_ids = serializers.ListField(
        child=serializers.IntegerField(),
        help_text=_PK_DEPRECATED.format(what="keys of the races", use="wet_race_list"),
    )
    wet_race_list = serializers.ListField(
        child=serializers.CharField(),
        help_text="The wet races counted, by race id (races/{race_id}), in the order of wet_race_ids",
    )


@extend_schema_serializer(deprecate_fields=["ref"])
class MetricsDriverOut(serializers.Serializer):
    ref = serializers.CharField(help_text="Deprecated: the driver id under an older name; use `id`.")
    id = serializers.CharField(help_text="Driver id (as drivers/{id} and analytics/driver/{id} take it)")
    name = serializers.CharField()
    code = serializers.CharField(allow_blank=True)


@extend_schema_serializer(deprecate_fields=["ref"])
class MetricsTeamOut(serializers.Serializer):
    ref = serializers.CharField(help_text="Deprecated: the team id under an older name; use `id`.")
    id = serializers.CharField(help_text="Team id (as teams/{id} and analytics/team/{id} take it)")
    name = serializers.CharField()


class DriverMetricsOut(serializers.Serializer):
    driver = MetricsDriverOut(help_text="The driver measured")
    season = serializers.IntegerField(allow_null=True, help_text="The season measured; null without a race")
    available = serializers.BooleanField(help_text="false: no race of the driver that season, no metrics")
    qualifying_gap_to_teammate = TeammateGapOut(required=False)
    race_pace_consistency = serializers.JSONField(required=False, help_text=METRIC_HELP)
    overtaking = serializers.JSONField(required=False, help_text=METRIC_HELP)
    wet_weather = WetWeatherOut(required=False, help_text="Career-wide (every season with weather)")
    pit_stops = serializers.JSONField(required=False, help_text=METRIC_HELP)
    circuits = serializers.JSONField(required=False, help_text=METRIC_HELP)
    form = serializers.JSONField(required=False, help_text=METRIC_HELP)
    championship = serializers.JSONField(required=False, help_text=METRIC_HELP)


@extend_schema_serializer(deprecate_fields=["team_id"])
class QualifyingPaceOut(serializers.Serializer):
    rank = serializers.IntegerField()
    team_id = serializers.IntegerField(help_text=_PK_DEPRECATED.format(what="key of the team", use="team"))
    median_gap_pct = serializers.FloatField(allow_null=True)
    races = serializers.IntegerField()
    team = serializers.CharField(
        allow_null=True, help_text="Team id (as analytics/team/{id} takes it), e.g. ferrari"
    )


@extend_schema_serializer(deprecate_fields=["race_id"])
class StrategyRaceOut(serializers.Serializer):
    race_id = serializers.IntegerField(help_text=_PK_DEPRECATED.format(what="key of the race", use="race"))
    race = serializers.CharField(help_text="Race id, e.g. 2026_australia")
    round = serializers.IntegerField()
    team_gained = serializers.FloatField(allow_null=True)
    field_gained = serializers.FloatField(allow_null=True)
    relative = serializers.FloatField(allow_null=True)


class StrategyOut(serializers.Serializer):
    races = serializers.IntegerField()
    mean_relative_gain = serializers.FloatField(allow_null=True)
    per_race = StrategyRaceOut(many=True)


class TeamMetricsOut(serializers.Serializer):
    team = MetricsTeamOut(help_text="The team measured")
    season = serializers.IntegerField(allow_null=True, help_text="The season measured; null without a race")
    available = serializers.BooleanField(help_text="false: no race of the team that season, no metrics")
    qualifying_pace = QualifyingPaceOut(
        required=False, allow_null=True, help_text="The team's row of the ranking; null if not ranked"
    )
    qualifying_pace_ranking = QualifyingPaceOut(many=True, required=False)
    strategy = StrategyOut(required=False)
    pit_stops = serializers.JSONField(required=False, help_text=METRIC_HELP)
    reliability = serializers.JSONField(required=False, help_text=METRIC_HELP)
    development = serializers.JSONField(required=False, help_text=METRIC_HELP)
    championship = serializers.JSONField(required=False, help_text=METRIC_HELP)


class DriverAnalyticsOut(serializers.Serializer):
    driver = DriverOut()
    season = serializers.IntegerField(allow_null=True)
    seasons = SeasonAggregateOut(many=True, help_text="Per-season aggregates from race and sprint results")
    analytics = DriverMetricsOut(help_text="Metrics computed by the analytics app (see docs/analytics.md)")


class TeamAnalyticsOut(serializers.Serializer):
    team = TeamOut()
    season = serializers.IntegerField(allow_null=True)
    seasons = SeasonAggregateOut(many=True)
    analytics = TeamMetricsOut(help_text="Metrics computed by the analytics app (see docs/analytics.md)")


class HealthCheckOut(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["ok", "degraded", "down", "n/a"],
        help_text="n/a = not part of this set-up (the beat in embedded mode); does not degrade health",
    )
    required = serializers.BooleanField()
    latency_ms = serializers.FloatField(allow_null=True)
    detail = serializers.JSONField()


class HealthOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded", "down"])
    checks = serializers.DictField(child=HealthCheckOut())
    cache = serializers.JSONField(help_text="Cache hit/miss counts per tier and breaker state (this process)")
    alerts = serializers.JSONField(allow_null=True)


class JobStatusOut(serializers.Serializer):
    name = serializers.CharField()
    task = serializers.CharField(allow_blank=True)
    enabled = serializers.BooleanField()
    schedule = serializers.CharField(allow_blank=True)
    last_run_at = serializers.DateTimeField(allow_null=True)
    last_finished_at = serializers.DateTimeField(allow_null=True)
    last_status = serializers.CharField(allow_null=True)
    last_error = serializers.CharField(allow_null=True, allow_blank=True)
    next_run_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the job is due: in the past when beat has not sent it yet (see overdue); "
        "null when disabled",
    )
    overdue = serializers.BooleanField(
        help_text="Due more than JOB_OVERDUE_GRACE seconds ago (default 60) and not sent: beat is "
        "down or behind. The due time counts from the latest of the task's last_run_at, its latest run "
        "and its latest check (never sent: from when the task was created or changed); when only "
        "last_run_at, which beat writes back every 180 s, speaks for it, the grace grows by 180 s. "
        "Always false in the embedded mode (liveness mode eager): no beat runs there (see overdue_note)"
    )
    overdue_note = serializers.CharField(
        allow_blank=True,
        help_text="Why overdue does not apply, else empty: in the embedded mode (liveness mode eager) every "
        'enabled job says "n/a: the beat is not running (embedded mode: schedules run only under '
        "`make stack`)\", as /health's beat check is n/a",
    )
    last_checked_at = serializers.DateTimeField(
        allow_null=True, help_text="Last trigger, idle ones included (an idle live_timing tick leaves no run)"
    )


class ProcessLivenessOut(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["ok", "missing", "unknown"],
        help_text="ok = seen within max_silence_seconds; unknown = the liveness store could not be read",
    )
    last_seen_at = serializers.DateTimeField(allow_null=True)
    seconds_ago = serializers.FloatField(allow_null=True)
    stopped_at = serializers.DateTimeField(
        allow_null=True, help_text="Set when it stopped cleanly (then missing at once); null otherwise"
    )
    name = serializers.CharField(
        allow_blank=True, help_text="Worker hostname, or the beat's lock holder (staff only; blank otherwise)"
    )


class WorkerLivenessOut(ProcessLivenessOut):
    workers = ProcessLivenessOut(
        many=True, help_text="Every worker seen in the last day, by hostname (staff only; empty otherwise)"
    )


class LivenessOut(serializers.Serializer):
    mode = serializers.ChoiceField(
        choices=["workers", "eager"],
        help_text="eager = embedded mode: a triggered job runs in-process (no worker needed) and no "
        "beat runs, so scheduled jobs are not sent (only `make stack` runs them)",
    )
    detail = serializers.CharField()
    max_silence_seconds = serializers.IntegerField(help_text="LIVENESS_MAX_SILENCE_SECONDS")
    worker = WorkerLivenessOut(allow_null=True, help_text="null in eager mode; ok if any worker is alive")
    beat = ProcessLivenessOut(allow_null=True, help_text="null in eager mode (not running: see detail)")


class JobsOut(serializers.Serializer):
    source = serializers.ChoiceField(
        choices=["scheduler", "sync_runs"], help_text="scheduler = beat + JobRun; sync_runs = fallback"
    )
    redacted = serializers.BooleanField(
        help_text="true for anonymous and non-staff callers: last_error is empty, worker hostnames and "
        "the beat's lock holder are blank, no liveness store error; staff (session or JWT) see everything"
    )
    liveness = LivenessOut()
    jobs = JobStatusOut(many=True)
