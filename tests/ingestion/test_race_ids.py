import pytest

from ingestion.services.race_ids import CalendarEntry, parse_race_id, race_id_canonical, race_slugs


def test_single_race_in_country_uses_country():
    slugs = race_slugs([CalendarEntry(2025, 4, "Bahrain Grand Prix", "Bahrain", "bahrain")])
    assert slugs == {(2025, 4): "2025_bahrain"}


def test_two_races_in_one_country_use_race_names():
    slugs = race_slugs(
        [
            CalendarEntry(2020, 1, "Austrian Grand Prix", "Austria", "red_bull_ring"),
            CalendarEntry(2020, 2, "Styrian Grand Prix", "Austria", "red_bull_ring"),
            CalendarEntry(2020, 3, "Hungarian Grand Prix", "Hungary", "hungaroring"),
        ]
    )
    assert slugs == {(2020, 1): "2020_austrian", (2020, 2): "2020_styrian", (2020, 3): "2020_hungary"}


def test_name_collision_falls_back_to_circuit():
    slugs = race_slugs(
        [
            CalendarEntry(2030, 1, "Grand Prix", "Spain", "catalunya"),
            CalendarEntry(2030, 2, "Grand Prix", "Spain", "madring"),
        ]
    )
    assert len(set(slugs.values())) == 2


def test_united_states_spellings_count_as_one_country():
    slugs = race_slugs(
        [
            CalendarEntry(2026, 4, "Miami Grand Prix", "USA", "miami"),
            CalendarEntry(2026, 21, "Las Vegas Grand Prix", "United States", "vegas"),
        ]
    )
    assert slugs == {(2026, 4): "2026_miami", (2026, 21): "2026_las_vegas"}


def test_a_race_name_starting_with_a_number_gives_a_valid_id():
    # 2020: two races at Silverstone, so the second takes its name, which starts with a digit.
    slugs = race_slugs(
        [
            CalendarEntry(2020, 4, "British Grand Prix", "UK", "silverstone"),
            CalendarEntry(2020, 5, "70th Anniversary Grand Prix", "UK", "silverstone"),
        ]
    )
    assert slugs[(2020, 5)] == "2020_70th_anniversary"
    assert parse_race_id("2020_70th_anniversary") == (2020, None, "2020_70th_anniversary")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "bahrain",
        "2025-bahrain",
        "25_bahrain",
        "2025_",
        "2025_Bahrain",
        "2025_\x00",
        "2025_999",
        "2025_4\n",
        "2025_bahrain\n",
        "2025_70_",
        "2025__x",
    ],
)
def test_malformed_ids_rejected(bad):
    with pytest.raises(ValueError, match="Malformed race id"):
        parse_race_id(bad)


def test_round_form_parses():
    assert parse_race_id("2025_4") == (2025, 4, None)
    assert parse_race_id("2025_bahrain") == (2025, None, "2025_bahrain")


def test_canonical_id_lower_cases_ascii_letters_only():
    assert race_id_canonical("2026_QATAR") == "2026_qatar"
    assert race_id_canonical("2020_70Th_Anniversary") == "2020_70th_anniversary"
    # str.lower() would turn the Kelvin sign into "k": a look-alike must stay malformed
    assert race_id_canonical("2026_\u212aorea") == "2026_\u212aorea"
    with pytest.raises(ValueError, match="Malformed race id"):
        parse_race_id(race_id_canonical("2026_\u212aorea"))
