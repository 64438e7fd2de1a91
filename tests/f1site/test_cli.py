"""One `--seasons` / `--rounds` parser for the commands; a typo is a usage error (exit status 2) in
each of them (QA: 2 in sync_f1 and load_ergast, 1 in sync_openf1, sync_weather and backtest)."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from f1site.cli import ranges_parse


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("2021", [2021]),
        ("2018-2020", [2018, 2019, 2020]),
        ("2024,2024", [2024]),
        ("2025,2021,2023-2024", [2021, 2023, 2024, 2025]),
        (" 2021 , ", [2021]),
    ],
)
def test_seasons_are_a_sorted_set(text, years):
    assert ranges_parse(text) == years


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "--seasons 'abc': use 2023-2025, 2021 or 2021,2023-2025"),
        ("2025-2023", "--seasons '2025-2023': use 2023-2025"),
        ("2024-", "--seasons '2024-': use 2023-2025"),
        ("2024-3000000", "--seasons '2024-3000000': seasons run from 1950 to 2100"),
        ("1949", "seasons run from 1950 to 2100"),
        (",", "--seasons is empty"),
    ],
)
def test_a_bad_value_is_a_usage_error_naming_the_option(text, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(")) as caught:
        ranges_parse(text)
    assert caught.value.returncode == 2


def test_rounds_have_their_own_bounds_and_example():
    assert ranges_parse("1,3,5-7", what="rounds", lo=1, hi=40) == [1, 3, 5, 6, 7]
    with pytest.raises(CommandError, match="--rounds '41': rounds run from 1 to 40"):
        ranges_parse("41", what="rounds", lo=1, hi=40)
    with pytest.raises(CommandError, match="use 1-5, 3 or 1,3,5-7"):
        ranges_parse("5-3", what="rounds", lo=1, hi=40)


@pytest.mark.parametrize(
    "argv",
    [
        ["sync_f1", "--seasons", "abc"],
        ["sync_openf1", "--seasons", "abc"],
        ["sync_weather", "--observed", "--seasons", "2026-2023"],
        ["backtest", "--seasons", "2024-"],
    ],
)
def test_every_command_answers_a_malformed_seasons_with_exit_status_2(argv):
    with pytest.raises(CommandError, match="--seasons") as caught:
        call_command(*argv)
    assert caught.value.returncode == 2
