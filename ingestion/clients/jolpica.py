"""JolpicaClient: the Jolpica-F1 (Ergast-compatible) API, paged, rate limited and schema-checked.

Requests are kept to the minimum: race-grouped endpoints are read season-wide with `limit=100`
and `offset` until `MRData.total` rows are in (a race cut across two pages is stitched back
together); only endpoints Jolpica serves per round (pit stops, standings) are read per round.

Validation happens in two layers:
* the envelope (`MRData.limit/offset/total`, the table and its list) — if that is wrong, nothing
  on the page can be trusted and `SourcePayloadError` is raised for the request;
* each race's rows — a race whose rows drift from the schema comes back as a `RaceBlock` with
  `error` set (naming the URL, the race and the field), so the sync rejects that race alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from pydantic import BaseModel, TypeAdapter, ValidationError

from ingestion.clients import jolpica_schemas as schemas
from ingestion.clients.http import CircuitBreaker, JsonHttpClient, SourcePayloadError
from ingestion.clients.ratelimit import rate_limiter_for

PAGE_SIZE = 100


@dataclass
class RaceBlock:
    """One race's rows from one endpoint. `error` is set (and `items` empty) if they failed validation."""

    season: int
    round: int
    url: str
    race: schemas.Race | None = None
    items: list = field(default_factory=list)
    error: str | None = None


def _describe(exc: ValidationError, *, prefix: str) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"])
        got = f" (got {err['input']!r})" if not isinstance(err.get("input"), dict | list) else ""
        parts.append(f"{prefix}{loc}: {err['msg']}{got}")
    more = f" (+{exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return "; ".join(parts) + more


class JolpicaClient(JsonHttpClient):
    name = "jolpica"

    def __init__(self, base_url: str | None = None, *, rate_limiter=None, **kwargs):
        if rate_limiter is None:
            rate_limiter = rate_limiter_for("jolpica", settings.ERGAST_RATE_LIMIT)
        kwargs.setdefault("circuit_breaker", None)
        super().__init__(base_url or settings.ERGAST_API_BASE, rate_limiter=rate_limiter, **kwargs)
        self.pages_fetched = 0

    # -- raw paging -------------------------------------------------------------------------
    def fetch_all(self, path: str, endpoint: str) -> tuple[list[tuple[str, dict]], int]:
        """All pages of `path` -> ([(page url, list entry)], MRData.total). Raises on envelope drift."""
        table_key, list_key, item_key = schemas.ENDPOINTS[endpoint]
        entries: list[tuple[str, dict]] = []
        offset, total, seen_items = 0, None, 0
        while True:
            params = {"limit": PAGE_SIZE, "offset": offset}
            url = self.url_for(path, params)
            data = self.get_json(path, params=params)
            self.pages_fetched += 1
            try:
                mr = data["MRData"]
                envelope = schemas.Envelope.model_validate(mr)
                listing = mr[table_key][list_key]
                if not isinstance(listing, list):
                    raise TypeError(f"MRData.{table_key}.{list_key} is not a list")
                page_items = 0
                for entry in listing:
                    if item_key is not None:
                        rows = entry[item_key]
                        if not isinstance(rows, list):
                            raise TypeError(f"MRData.{table_key}.{list_key}[].{item_key} is not a list")
                        page_items += len(rows)
                    else:
                        page_items += 1
                    entries.append((url, entry))
            except (KeyError, TypeError) as exc:
                raise SourcePayloadError(
                    f"jolpica: unexpected {endpoint} payload: missing {exc}", url=url
                ) from None
            except ValidationError as exc:
                raise SourcePayloadError(f"jolpica: {_describe(exc, prefix='MRData.')}", url=url) from None
            page_total = int(envelope.total)
            if total is None:
                total = page_total
            elif page_total != total:
                raise SourcePayloadError(
                    f"jolpica: MRData.total changed while paging ({total} -> {page_total})", url=url
                )
            seen_items += page_items
            offset += PAGE_SIZE
            if offset >= total:
                break
            if page_items == 0:
                raise SourcePayloadError(
                    f"jolpica: empty page at offset {offset - PAGE_SIZE} of {total} {endpoint}", url=url
                )
        if seen_items != total:
            raise SourcePayloadError(
                f"jolpica: {endpoint} pages held {seen_items} rows but MRData.total is {total}",
                url=self.url_for(path),
            )
        return entries, total

    # -- race-grouped endpoints ---------------------------------------------------------------
    def _race_blocks(self, path: str, endpoint: str) -> dict[tuple[int, int], RaceBlock]:
        """Rows of a race-grouped endpoint, stitched per race and validated race by race."""
        _, _, item_key = schemas.ENDPOINTS[endpoint]
        entries, _ = self.fetch_all(path, endpoint)
        raw: dict[tuple[int, int], tuple[str, dict, list]] = {}
        for url, entry in entries:
            try:
                key = (int(entry["season"]), int(entry["round"]))
            except (KeyError, TypeError, ValueError):
                raise SourcePayloadError(
                    f"jolpica: a {endpoint} entry has no usable season/round: "
                    f"{ {k: entry.get(k) for k in ('season', 'round')} }",
                    url=url,
                ) from None
            if key not in raw:
                raw[key] = (url, entry, [])
            raw[key][2].extend(entry[item_key])
        adapter = TypeAdapter(list[schemas.ITEM_SCHEMAS[item_key]])
        blocks = {}
        for (season, rnd), (url, entry, rows) in raw.items():
            block = RaceBlock(season=season, round=rnd, url=url)
            label = f"{season} round {rnd} {endpoint}: "
            try:
                if endpoint not in ("driverstandings", "constructorstandings"):
                    block.race = schemas.Race.model_validate(
                        {k: v for k, v in entry.items() if k != item_key}
                    )
                block.items = adapter.validate_python(rows)
            except ValidationError as exc:
                block.items = []
                block.error = f"{_describe(exc, prefix=label + item_key + '.')} [{url}]"
            blocks[(season, rnd)] = block
        return blocks

    def races(self, season: int) -> list[schemas.Race]:
        """The season's calendar with session times. A malformed race raises (the calendar is small)."""
        path = f"{season}/races.json"
        entries, _ = self.fetch_all(path, "races")
        out = []
        for url, entry in entries:
            try:
                out.append(schemas.Race.model_validate(entry))
            except ValidationError as exc:
                raise SourcePayloadError(f"jolpica: {_describe(exc, prefix='Races[].')}", url=url) from None
        return out

    def results(self, season: int, round: int | None = None) -> dict[tuple[int, int], RaceBlock]:
        return self._race_blocks(self._path(season, round, "results"), "results")

    def sprint(self, season: int, round: int | None = None) -> dict[tuple[int, int], RaceBlock]:
        return self._race_blocks(self._path(season, round, "sprint"), "sprint")

    def qualifying(self, season: int, round: int | None = None) -> dict[tuple[int, int], RaceBlock]:
        return self._race_blocks(self._path(season, round, "qualifying"), "qualifying")

    def pitstops(self, season: int, round: int) -> RaceBlock:
        return self._one(self._race_blocks(self._path(season, round, "pitstops"), "pitstops"), season, round)

    def driver_standings(self, season: int, round: int) -> RaceBlock:
        path = self._path(season, round, "driverStandings")
        return self._one(self._race_blocks(path, "driverstandings"), season, round)

    def constructor_standings(self, season: int, round: int) -> RaceBlock:
        path = self._path(season, round, "constructorStandings")
        return self._one(self._race_blocks(path, "constructorstandings"), season, round)

    # -- flat endpoints ------------------------------------------------------------------------
    def drivers(self, season: int | None = None) -> list[schemas.DriverItem]:
        return self._flat(self._path(season, None, "drivers"), "drivers", schemas.DriverItem)

    def constructors(self, season: int | None = None) -> list[schemas.ConstructorItem]:
        return self._flat(self._path(season, None, "constructors"), "constructors", schemas.ConstructorItem)

    def circuits(self, season: int | None = None) -> list[schemas.CircuitItem]:
        return self._flat(self._path(season, None, "circuits"), "circuits", schemas.CircuitItem)

    def statuses(self, season: int | None = None) -> list[schemas.Status]:
        return self._flat(self._path(season, None, "status"), "status", schemas.Status)

    def total(self, path: str) -> int:
        """MRData.total of an endpoint, with one `limit=1` request (for request budgeting/benchmarks)."""
        data = self.get_json(path, params={"limit": 1})
        try:
            return int(schemas.Envelope.model_validate(data["MRData"]).total)
        except (KeyError, TypeError, ValidationError) as exc:
            raise SourcePayloadError(
                f"jolpica: no usable MRData.total ({exc})", url=self.url_for(path)
            ) from None

    @staticmethod
    def pages_for(total: int) -> int:
        """Requests needed to read `total` rows (an empty listing still takes one request)."""
        return max(1, math.ceil(total / PAGE_SIZE))

    # -- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _path(season: int | None, round: int | None, endpoint: str) -> str:
        parts = [str(p) for p in (season, round) if p is not None]
        return "/".join([*parts, f"{endpoint}.json"])

    @staticmethod
    def _one(blocks: dict, season: int, round: int) -> RaceBlock:
        block = blocks.get((season, round))
        if block is None:  # no rows: an empty block, not an error
            return RaceBlock(season=season, round=round, url="")
        return block

    def _flat(self, path: str, endpoint: str, schema: type[BaseModel]) -> list[Any]:
        entries, _ = self.fetch_all(path, endpoint)
        adapter = TypeAdapter(list[schema])
        try:
            return adapter.validate_python([entry for _, entry in entries])
        except ValidationError as exc:
            raise SourcePayloadError(
                f"jolpica: {_describe(exc, prefix=endpoint + '.')}", url=self.url_for(path)
            ) from None


__all__ = ["PAGE_SIZE", "CircuitBreaker", "JolpicaClient", "RaceBlock"]
