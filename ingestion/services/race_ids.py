"""Stable, human-readable race ids: `{season}_{country}` (e.g. `2025_bahrain`, `2026_austria`).

Where a season holds more than one race in a country (2020: Austrian and Styrian GPs; the USA
since 2022), those races take the race name instead (`2020_styrian`, `2023_las_vegas`), and if
even that collides, the name plus the circuit ref. The rule only looks at one season's calendar,
so it is deterministic for both the dump loader and the API sync; ids are stored at first insert
and never rewritten. `{season}_{round}` (e.g. `2025_4`) is accepted wherever an id is, and an id
typed in any case (`2026_QATAR`) is the stored lower-case one (`race_id_canonical`).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from f1site.errors import PicklableError

_COUNTRY_ALIASES = {"united_states": "usa", "united_kingdom": "uk", "united_arab_emirates": "uae"}


@dataclass(frozen=True)
class CalendarEntry:
    season: int
    round: int
    name: str
    country: str
    circuit_ref: str


def slugify_part(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    return _COUNTRY_ALIASES.get(slug, slug)


def _name_part(name: str) -> str:
    return slugify_part(re.sub(r"\bgrand prix\b", "", name, flags=re.IGNORECASE)) or slugify_part(name)


def race_slugs(calendar: Iterable[CalendarEntry]) -> dict[tuple[int, int], str]:
    """Map (season, round) -> race id for one or more whole-season calendars."""
    entries = list(calendar)
    by_country = Counter((e.season, slugify_part(e.country)) for e in entries)
    first: dict[tuple[int, int], str] = {}
    for e in entries:
        country = slugify_part(e.country) or slugify_part(e.circuit_ref)
        first[(e.season, e.round)] = (
            f"{e.season}_{country}"
            if by_country[(e.season, country)] == 1
            else f"{e.season}_{_name_part(e.name)}"
        )
    taken = Counter(first.values())
    out = {}
    for e in entries:
        slug = first[(e.season, e.round)]
        if taken[slug] > 1:
            slug = f"{slug}_{slugify_part(e.circuit_ref)}"
        out[(e.season, e.round)] = slug
    return out


def race_id_candidates(*, slug: str, circuit_ref: str) -> tuple[str, str]:
    """The ids a race new to the database may take, first free one wins: the id `race_slugs` gave
    it, then that id + its circuit ref. The Jolpica sync's rule for a race added upstream
    (`race_calendar.calendar_reconcile`), and the admin's for a race added by hand (`race_id_choose`);
    a stored race's id is never rewritten, so a computed id can already name another race."""
    return slug, f"{slug}_{circuit_ref}"


RACE_ID_MAX_LENGTH = 80  # Race.slug


class RaceIdUnavailable(PicklableError, ValueError):
    """No id for a race new to its season (`race_id_choose`): `race_id` is not of a race's form
    (`taken` False), or it and `fallback` both name stored races (`taken` True)."""

    def __init__(self, message: str, *, race_id: str, fallback: str, taken: bool) -> None:
        super().__init__(message)
        self.race_id, self.fallback, self.taken = race_id, fallback, taken


def race_id_choose(
    *, entry: CalendarEntry, calendar: Iterable[CalendarEntry], taken: Callable[[str], bool]
) -> str:
    """The id of a race new to its season, as the Jolpica sync gives one to a race added upstream:
    `race_slugs` over the season's `calendar` with `entry` in it (two races in one country take the
    race name), then the first of `race_id_candidates` that `taken` says is free. Raises
    RaceIdUnavailable when both are taken, or when the id is not of the `<season>_<name>` form (a name
    of digits gives `2026_24`, which reads as round 24)."""
    slug = race_slugs([*(e for e in calendar if e.round != entry.round), entry])[(entry.season, entry.round)]
    candidates = race_id_candidates(slug=slug, circuit_ref=entry.circuit_ref)
    for candidate in candidates:
        if not race_id_usable(candidate):
            raise RaceIdUnavailable(
                f"{candidate!r} is not a race id", race_id=candidate, fallback=candidates[1], taken=False
            )
        if not taken(candidate):
            return candidate
    raise RaceIdUnavailable(
        f"{slug} and {candidates[1]} are taken", race_id=slug, fallback=candidates[1], taken=True
    )


def race_id_usable(race_id: str) -> bool:
    """A race id of the `<season>_<name>` form (not `<season>_<round>`) that fits the column."""
    try:
        _, rnd, slug = parse_race_id(race_id)
    except ValueError:
        return False
    return slug is not None and rnd is None and len(race_id) <= RACE_ID_MAX_LENGTH


# The name part holds at least one letter, so it never reads as a round; it may start with digits
# (2020's "70th Anniversary Grand Prix" -> `2020_70th_anniversary`). Matched whole (fullmatch):
# `$` alone would accept a trailing newline. OpenAPI parameters publish the `^...$` form
# (f1site.api.openapi_pattern), which ECMA regexes read as whole-string anchors.
RACE_ID_PATTERN = re.compile(
    r"\A(?P<season>\d{4})_(?:(?P<round>\d{1,2})|(?P<slug>(?:[0-9][0-9_]{0,7})?[a-z][a-z0-9_]{0,70}))\Z"
)


# What the API publishes (OpenAPI path parameter): the same ids in any case, as they are accepted.
RACE_ID_ANY_CASE_PATTERN = re.compile(RACE_ID_PATTERN.pattern.replace("a-z", "a-zA-Z"))

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def race_id_canonical(race_id: str) -> str:
    """The stored form of a race id typed in any case: `2026_QATAR` -> `2026_qatar`.

    ASCII letters only: `str.lower()` also folds look-alikes (the Kelvin sign becomes `k`), which
    would let a string that is no id name a race. What is left is validated by `parse_race_id`."""
    return race_id.translate(_ASCII_LOWER)


def parse_race_id(race_id: str) -> tuple[int, int | None, str | None]:
    """Validate a race id -> (season, round or None, full slug or None). Raises ValueError if malformed."""
    match = RACE_ID_PATTERN.fullmatch(race_id or "")
    if not match:
        raise ValueError(
            f"Malformed race id {race_id!r}: expected '<season>_<name>' (e.g. 2025_bahrain) or '<season>_<round>' (e.g. 2025_4)"
        )
    season = int(match["season"])
    if match["round"] is not None:
        return season, int(match["round"]), None
    return season, None, race_id
