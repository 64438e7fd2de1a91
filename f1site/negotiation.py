"""Content negotiation for the API (DRF's DEFAULT_CONTENT_NEGOTIATION_CLASS).

DRF answers a `?format=` no renderer has (`?format=xml`) with Http404, which the API turned into
404 "Not found." for a path that exists. Here it is 406 `not_acceptable` — what an unsatisfiable
Accept header already gets — in the API's error shape. `?format=json` (and no format) still work;
a repeated `format` is 400 like any repeated parameter.
Kept apart from f1site/api.py: DRF's settings import this class while rest_framework.views loads.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        # `?format=xml&format=json` is a repeated scalar: rejected like every other repeated query
        # parameter (DRF would silently use the last value and answer 200).
        if len(request.query_params.getlist(self.settings.URL_FORMAT_OVERRIDE)) > 1:
            raise exceptions.ValidationError(
                {self.settings.URL_FORMAT_OVERRIDE: ["Give this parameter once."]}
            )
        return super().select_renderer(request, renderers, format_suffix)

    def filter_renderers(self, renderers, format):
        matching = [renderer for renderer in renderers if renderer.format == format]
        if not matching:
            offered = ", ".join(sorted({r.format for r in renderers if r.format}))
            raise exceptions.NotAcceptable(
                f"Unsupported format {format[:40]!r}: this endpoint answers format={offered} "
                "(or leave format out)."
            )
        return matching
