"""A clock as people and links write it: `?as_of=` on the pages and the API, `predict --as-of`,
and the clock in a link or a cache key. One parser, so `/?as_of=X`, the API's `?as_of=X` and
`--as-of X` are the same moment.

No DRF here: the engine's services and the pages read and write clocks too. The API's reader
(`f1site.api.clock_param`: its 400 / 404 and its OpenAPI declaration) is built on `clock_param_read`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone


def clock_from_text(*, text: str) -> datetime:
    """A clock typed by a person (`predict --as-of`, the home page's `?as_of=`) -> an aware datetime.

    An ISO date-time is that moment (UTC when it names no zone: `2026-06-20T14:00`). An ISO date
    alone is **00:00 UTC at the start of that day**, everywhere: the clock stands before anything
    of that day, so the date reads as `2026-06-20T00:00` does (and as Python and PostgreSQL read a
    date as a time); and a date is never a clock in the future on that day itself, which a
    prediction refuses (`predict --as-of <today>` at 04:00 UTC). The home page read a date as 12:00
    and `predict --as-of` as 00:00, so the same date showed and predicted two different clocks.
    Returned in UTC. ValueError when the text is neither (nothing is stripped: `2026-06-20\n` is not
    a date); a moment outside years 1-9999 once in UTC (`0001-01-01T00:00+01:00`) is the nearest
    edge of that range."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is not an ISO date or date-time (e.g. 2026-06-20, 2026-06-20T14:00)"
            ) from None
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        try:  # in UTC, so a zone at the calendar's edge is settled here rather than in a comparison
            return moment.astimezone(UTC)
        except OverflowError:
            # within a day of the calendar's edge once in UTC (`0001-01-01T00:00+01:00`): that
            # edge, which answers the same — a clock before any data, or one in the future. The API
            # schema declares any ISO date-time; its fuzzing found the 400 this used to be.
            return (datetime.min if moment.year == 1 else datetime.max).replace(tzinfo=UTC)
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def clock_to_text(*, clock: datetime) -> str:
    """`clock_from_text`'s inverse, for the links of a page shown as of a clock: the shortest text it
    reads back as the same moment — the date alone for 00:00 UTC, else the UTC date-time without a
    zone (seconds and fractions only when set), so the link needs no `+` to escape and every link
    of the page spells the clock one way (one page-cache entry per clock, not one per spelling)."""
    clock = clock.astimezone(UTC)
    if clock.time() == time(0, 0):
        return clock.date().isoformat()
    spec = "microseconds" if clock.microsecond else "seconds" if clock.second else "minutes"
    return clock.replace(tzinfo=None).isoformat(timespec=spec)


def clock_display(*, clock: datetime) -> str:
    """A clock (or any moment) in a message people read — the API's error messages, the engine's
    refusals, the commands: `2026-11-28 17:00 UTC`, to the minute, in UTC (a naive value is taken as
    UTC). The one spelling: the 404s of the lists and standings wrote `2026-11-28T17:00:00+00:00`
    where the championship's wrote `2020-01-01 00:00 UTC`, and a clock still to come echoed the text
    as typed (API review)."""
    clock = clock.replace(tzinfo=UTC) if clock.tzinfo is None else clock.astimezone(UTC)
    return f"{clock.year:04d}-{clock:%m-%d %H:%M} UTC"  # %Y writes year 1 as "1" here


# A clock may run this far ahead of the server's (a caller's clock skew), no further.
CLOCK_SKEW = timedelta(minutes=5)


class ClockParamMalformed(ValueError):
    """A `?as_of=` that is empty, repeated or not a date / date-time (the page's 404, the API's 400)."""


class ClockInFuture(ValueError):
    """A well-formed `?as_of=` still to come: there is no view as of then yet (404 on the page and
    in the API, since the value itself is valid)."""


def clock_param_read(*, values: list[str]) -> datetime | None:
    """The home page's and the API's `?as_of=` (every value given for it; none = now -> None): one
    parser, so `/?as_of=X` and the API's `?as_of=X` are the same moment (`clock_from_text`, UTC).
    Empty or repeated is refused: a second value silently showing another clock hides a client's
    mistake."""
    if not values:
        return None
    if len(values) != 1 or not values[0]:
        raise ClockParamMalformed("as_of must be given once, as a date, YYYY-MM-DD, or an ISO date-time")
    raw = values[0]
    try:
        clock = clock_from_text(text=raw)
    except ValueError as exc:
        raise ClockParamMalformed(f"as_of must be a date, YYYY-MM-DD, or an ISO date-time: {exc}") from None
    if clock > timezone.now() + CLOCK_SKEW:
        raise ClockInFuture(
            f"as_of {clock_display(clock=clock)} is in the future: the page can be shown as of a past moment only"
        )
    return clock


def clock_key_part(as_of: datetime) -> str:
    """The clock in a cache key: `at:{UTC ISO date-time}`, one spelling per moment (the parser
    returns UTC), so each clock has its own entry and every spelling of one clock shares it."""
    return f"at:{as_of.isoformat()}"
