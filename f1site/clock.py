"""The API's `?as_of=` clock, one reading for every endpoint that takes it, whichever app serves it
(ingestion: races, races/{race_id}, drivers, teams, drivers|teams/{id}, standings; analytics:
analytics/driver|team/{id}; predictions: predictions/upcoming, predictions/overview,
predictions/race|accuracy/{race_id}, championship/{season}, models/performance, the what-if's POST):
the same parser as the pages (`predictions.features.clock.clock_param_read`), the same errors
through the project's exception handler, the same OpenAPI declaration and the same cache-key part.

An endpoint that does not declare `as_of` refuses it (400 `unsupported_parameter`:
f1site.api.DeclaredParamsOnlyMixin). What is not the reader's stays with the app that answers: a
model-based answer at a clock before any model version (409 `no_model_at_clock`) is the engine's
NoModelAtClock, mapped by the one exception handler (f1site.api)."""

from __future__ import annotations

from datetime import datetime

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError

from f1site.api import validate_query
from predictions.features.clock import ClockInFuture, ClockParamMalformed, clock_param_read

AS_OF = "as_of"


class ClockParams(serializers.Serializer):
    # Only checks that `as_of` is one non-empty value without NUL bytes (f1site.api.validate_query);
    # the text is read by the home page's own parser (`clock_param`).
    as_of = serializers.CharField(required=False, trim_whitespace=False, max_length=64)


def as_of_param(*, shows: str) -> OpenApiParameter:
    """The `as_of` query parameter as every endpoint declares it; `shows`: what the endpoint answers
    at the clock. Declaring it is also what lets a request carry it (f1site.api.DeclaredParamsOnlyMixin)."""
    return OpenApiParameter(
        AS_OF,
        # not `format: date` alone: date-times are read too, and a client generated from it could not send one
        {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]},
        OpenApiParameter.QUERY,
        required=False,
        description=(
            "The clock (default now), read by the pages' `?as_of=` parser: a date, YYYY-MM-DD, "
            "is 00:00 UTC that day; an ISO date-time (2026-06-20T14:00, UTC unless it names a zone) is "
            "also read. Malformed, empty or repeated -> 400 `invalid` with `details.as_of`; a "
            "well-formed clock still to come (beyond a 5-minute skew) -> 404 `not_found`. " + shows
        ),
    )


def clock_param(request) -> datetime | None:
    """`?as_of=` -> the clock in UTC (None = now), parsed by the home page's own reader
    (`predictions.features.clock.clock_param_read`), so `/?as_of=X` and the API's `?as_of=X` are the same moment.
    Empty, repeated or NUL-carrying values are refused first, as for every API query parameter;
    a malformed one (the page's 404) is the API's 400 `invalid` with `details.as_of`, and so is
    a moment with no UTC equivalent (`0001-01-01T00:00+01:00`). A well-formed clock still to come
    is a 404, as on the page: the value is valid, the view as of then does not exist yet."""
    validate_query(ClockParams, request)
    try:
        return clock_param_read(values=request.GET.getlist(AS_OF))  # in UTC, None = now
    except ClockInFuture as exc:
        raise NotFound(str(exc)) from None
    except ClockParamMalformed as exc:
        raise ValidationError({AS_OF: [str(exc)]}) from None


def clock_key_part(as_of: datetime) -> str:
    """The clock in a cache key: `at:{UTC ISO date-time}`, one spelling per moment (the parser
    returns UTC), so each clock has its own entry and every spelling of one clock shares it."""
    return f"at:{as_of.isoformat()}"
