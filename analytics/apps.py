from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # New results or new predictions make every cached dashboard page stale at once (home and
        # standings summarise many races), so drop them all rather than waiting for the TTL.
        from ingestion.signals import races_changed
        from predictions.signals import predictions_changed

        races_changed.connect(_drop_dashboard_cache, dispatch_uid="analytics-races-changed")
        predictions_changed.connect(_drop_dashboard_cache, dispatch_uid="analytics-predictions-changed")


def _drop_dashboard_cache(sender, **kwargs) -> None:
    from analytics.services.cache import dashboard_cache_clear

    dashboard_cache_clear()
