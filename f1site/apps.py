from django.apps import AppConfig


class PitwallSiteConfig(AppConfig):
    """Project-level wiring that must run in every process (web, worker, beat), not only on URL import."""

    name = "f1site"
    verbose_name = "Pitwall site"

    def ready(self) -> None:
        from f1site.cache import connect_invalidation_signals

        connect_invalidation_signals()
