"""/api/v1/analytics/{driver,team}/{id}: season aggregates plus the analytics app's metrics."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema

from analytics.selectors import driver_analytics_get, driver_get, team_analytics_get, team_get
from f1site import cache as f1cache
from f1site.api import CachedJSONView, as_of_param, clock_param, error_responses, validate_query
from f1site.clock import clock_key_part
from f1site.errors import NotFound
from ingestion.api import selectors, serializers
from ingestion.api.views import ref_param, season_ttl

AS_OF_PARAM = as_of_param(
    shows=(
        "The season and career as they stood then: `seasons` and every metric count only races "
        "whose results were known by the clock (race start + 3 h: not a race being run then; the "
        "driver's and team's pages' `?as_of=`); no `season` = the latest season with a result by then."
    )
)


def _entity_or_404(get, ref: str, label: str):
    """The driver / team (`get`: analytics.selectors.driver_get / team_get; the caller has checked
    the ref's form), or the API's 404 text for it."""
    try:
        return get(ref=ref)
    except NotFound:
        raise Http404(f"No {label} with id {ref!r}") from None


class DriverAnalyticsView(CachedJSONView):
    @extend_schema(
        operation_id="analytics_driver_retrieve",
        summary="A driver's metrics: season aggregates plus the analytics app's metrics",
        parameters=[
            ref_param("driver_id", "max_verstappen"),
            serializers.AnalyticsParams,
            AS_OF_PARAM,
        ],
        responses={200: serializers.DriverAnalyticsOut, **error_responses(400, 404, 429)},
    )
    def get(self, request, driver_id: str):
        season = validate_query(serializers.AnalyticsParams, request).validated_data.get("season")
        as_of = clock_param(request)
        if not serializers.REF_PATTERN.fullmatch(driver_id):
            raise Http404(f"No driver with id {driver_id[:80]!r}")

        def compute():
            driver = _entity_or_404(driver_get, driver_id, "driver")
            return {
                "driver": selectors.driver_list_item(driver=driver),
                "season": season,
                "seasons": selectors.driver_aggregates(driver=driver, season=season, as_of=as_of),
                "analytics": driver_analytics_get(driver=driver, season=season, as_of=as_of),
            }

        # the season-filtered answers are a family per driver: any change of his races retires them all,
        # and so are the answers at a clock (one entry per clock and season)
        if as_of is not None:
            key = f1cache.driver_clock_key(driver_id, season, clock_key_part(as_of))
        elif season is None:
            key = f1cache.driver_key(driver_id)
        else:
            key = f1cache.driver_season_key(driver_id, season)
        return self.cached(request, key=key, ttl=season_ttl(season), tier="driver", compute=compute)


class TeamAnalyticsView(CachedJSONView):
    @extend_schema(
        operation_id="analytics_team_retrieve",
        summary="A team's metrics: season aggregates plus the analytics app's metrics",
        parameters=[
            ref_param("team_id", "red_bull"),
            serializers.AnalyticsParams,
            AS_OF_PARAM,
        ],
        responses={200: serializers.TeamAnalyticsOut, **error_responses(400, 404, 429)},
    )
    def get(self, request, team_id: str):
        season = validate_query(serializers.AnalyticsParams, request).validated_data.get("season")
        as_of = clock_param(request)
        if not serializers.REF_PATTERN.fullmatch(team_id):
            raise Http404(f"No team with id {team_id[:80]!r}")

        def compute():
            team = _entity_or_404(team_get, team_id, "team")
            return {
                "team": {"id": team.ref, "name": team.name, "nationality": team.nationality, "url": team.url},
                "season": season,
                "seasons": selectors.team_aggregates(team=team, season=season, as_of=as_of),
                "analytics": team_analytics_get(team=team, season=season, as_of=as_of),
            }

        if as_of is not None:  # as the driver's
            key = f1cache.team_clock_key(team_id, season, clock_key_part(as_of))
        elif season is None:
            key = f1cache.team_key(team_id)
        else:
            key = f1cache.team_season_key(team_id, season)
        return self.cached(request, key=key, ttl=season_ttl(season), tier="team", compute=compute)
