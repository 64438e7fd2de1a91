"""Parsing shared by the management commands' options.

One parser for `--seasons` (sync_f1, sync_openf1, sync_weather, backtest) and `--rounds` (sync_f1):
there were four, which disagreed on the forms they took (`2021,2023-2025` in one, not another) and
on the exit status of a typo (2, argparse's usage error, in `sync_f1`; 1 elsewhere, QA). `load_ergast`
keeps its own argparse type: it takes one contiguous span only.
"""

from __future__ import annotations

from django.core.management.base import CommandError

USAGE_ERROR = 2  # as argparse's own usage errors
_EXAMPLES = {"seasons": "2023-2025, 2021 or 2021,2023-2025", "rounds": "1-5, 3 or 1,3,5-7"}


def ranges_parse(text: str, *, what: str = "seasons", lo: int = 1950, hi: int = 2100) -> list[int]:
    """'2018-2026', '2021' or '2021,2023-2025' -> the sorted set of ints (a repeat counts once: a
    backtest of `2024,2024` doubled every race's rows). Bounded by [lo, hi] before any list is built
    (`2024-3000000` was three million seasons). A malformed, reversed, out-of-range or empty value is
    a CommandError with exit status 2 naming the option."""
    spans = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, dash, last = part.partition("-")
        try:
            start, stop = int(first), int(last if dash else first)  # "2024-" is a typo, not 2024
        except ValueError:
            start, stop = 1, 0
        if start > stop:
            example = _EXAMPLES.get(what, _EXAMPLES["seasons"])
            raise CommandError(f"--{what} {text!r}: use {example}", returncode=USAGE_ERROR)
        if not (lo <= start and stop <= hi):
            raise CommandError(f"--{what} {text!r}: {what} run from {lo} to {hi}", returncode=USAGE_ERROR)
        spans.append((start, stop))
    if not spans:
        raise CommandError(f"--{what} is empty", returncode=USAGE_ERROR)
    return sorted({n for start, stop in spans for n in range(start, stop + 1)})
