"""Unit tests of ingestion.services.validation (pure Python, no database)."""

import pytest

from ingestion.services.validation import (
    assign_shared_car_index,
    parse_int,
    validate_classification,
)


def _race_rows(n=3):
    return [
        {
            "driver_id": d,
            "team_id": 1,
            "number": d + 10,
            "position": d,
            "position_text": str(d),
            "position_order": d,
            "points": "10",
            "laps": 58,
            "status_id": 1,
        }
        for d in range(1, n + 1)
    ]


def test_valid_race_has_no_problems():
    assert validate_classification(_race_rows(), race_label="2021_abu_dhabi", kind="race") == []


def test_duplicate_position_order_names_race_and_field():
    rows = _race_rows()
    rows[2]["position_order"] = 2
    rows[2]["position"] = None
    rows[2]["position_text"] = "R"
    problems = validate_classification(rows, race_label="2021_abu_dhabi", kind="race")
    assert any("2021_abu_dhabi" in p and "'position_order' 2 used by 2 cars" in p for p in problems)


def test_position_order_gap_is_rejected():
    rows = _race_rows()
    rows[2]["position_order"] = 5
    problems = validate_classification(rows, race_label="r", kind="race")
    assert problems == ["r race: field 'position_order' is not 1..3; missing [3]; unexpected [5]"]


def test_position_r_is_not_an_integer():
    rows = _race_rows()
    rows[1]["position"] = "R"
    problems = validate_classification(rows, race_label="2024_bahrain", kind="race")
    assert problems == ["2024_bahrain race: row 2 (driver_id 2): field 'position' is not an integer: 'R'"]


def test_missing_and_empty_required_fields():
    rows = _race_rows()
    del rows[0]["status_id"]
    rows[1]["team_id"] = "\\N"
    problems = validate_classification(rows, race_label="x", kind="race")
    assert "x race: row 1 (driver_id 1): required field 'status_id' is missing" in problems
    assert "x race: row 2 (driver_id 2): required field 'team_id' is empty" in problems


def test_bad_points_and_unknown_position_text():
    rows = _race_rows()
    rows[0]["points"] = "ten"
    rows[1]["position_text"] = "Q"
    rows[1]["position"] = None
    problems = validate_classification(rows, race_label="x", kind="race")
    assert "x race: row 1 (driver_id 1): field 'points' is not a number: 'ten'" in problems
    assert "x race: row 2 (driver_id 2): field 'position_text' has unknown value 'Q'" in problems


@pytest.mark.parametrize(
    ("field", "value"), [("grid", "-1"), ("laps", "-1"), ("number", -1), ("grid", "-20")]
)
def test_negative_integers_are_rejected(field, value):
    """QA finding 9: a negative integer would reach a PositiveSmallIntegerField CHECK as an
    IntegrityError; the validator names it instead. 0 stays valid (grid 0 = pit-lane start)."""
    rows = _race_rows()
    rows[1][field] = value
    problems = validate_classification(rows, race_label="1999_x", kind="race")
    assert problems == [f"1999_x race: row 2 (driver_id 2): field {field!r} is negative: {value!r}"]


def test_zero_grid_and_laps_are_valid():
    rows = _race_rows()
    rows[2].update(grid="0", laps="0", position=None, position_text="W")
    assert validate_classification(rows, race_label="x", kind="race") == []


def test_position_disagreeing_with_text():
    rows = _race_rows()
    rows[0]["position_text"] = "R"
    problems = validate_classification(rows, race_label="x", kind="race")
    assert problems == [
        "x race: row 1 (driver_id 1): field 'position' is 1 but position_text 'R' is not classified"
    ]


def test_shared_car_co_drivers_are_allowed_and_indexed():
    # 1950s: two drivers share car 12, classified together at position order 2.
    rows = _race_rows(3)
    rows.insert(2, {**rows[1], "driver_id": 99})
    rows[3]["position_order"] = 3
    rows[3]["position"] = 3
    rows[3]["position_text"] = "3"
    assign_shared_car_index(rows)
    assert [r["shared_car_index"] for r in rows] == [0, 0, 1, 0]
    assert validate_classification(rows, race_label="1953_argentina", kind="race") == []


def test_shared_order_with_different_numbers_is_rejected():
    rows = _race_rows(3)
    rows[2].update(position_order=2, position=None, position_text="R")
    assign_shared_car_index(rows)
    problems = validate_classification(rows, race_label="x", kind="race")
    assert any("'position_order' 2 used by 2 cars" in p for p in problems)


def test_sprint_never_allows_shared_orders():
    rows = _race_rows(2)
    for r in rows:
        r["number"] = 5
        r["position_order"] = 1
        r["position"] = None
        r["position_text"] = "R"
    problems = validate_classification(rows, race_label="x", kind="sprint")
    assert "x sprint: field 'position_order' 1 used by 2 cars (driver_id 1, 2)" in problems


def test_qualifying_duplicate_positions_and_drivers():
    rows = [
        {"driver_id": 1, "team_id": 1, "position": 1},
        {"driver_id": 2, "team_id": 1, "position": 2},
        {"driver_id": 3, "team_id": 2, "position": 2},
        {"driver_id": 3, "team_id": 2, "position": 4},
    ]
    problems = validate_classification(rows, race_label="2025_singapore", kind="qualifying")
    assert "2025_singapore qualifying: field 'position' 2 used by 2 cars" in problems
    assert any("'driver_id' repeats 2 times" in p for p in problems)


def test_practice_uniqueness_is_per_session():
    rows = [
        {"driver_id": 1, "team_id": 1, "session": "FP1", "position": 1},
        {"driver_id": 1, "team_id": 1, "session": "FP2", "position": 1},
    ]
    assert validate_classification(rows, race_label="x", kind="practice") == []
    rows.append({"driver_id": 2, "team_id": 1, "session": "FP2", "position": 1})
    assert validate_classification(rows, race_label="x", kind="practice") == [
        "x practice: field 'position' 1 used by 2 cars in FP2"
    ]


def test_unknown_kind_raises():
    with pytest.raises(ValueError, match="kind must be one of"):
        validate_classification([], race_label="x", kind="testing")


@pytest.mark.parametrize(
    ("value", "expected"), [("12", 12), (12, 12), (3.0, 3), ("\\N", None), ("", None), (None, None)]
)
def test_parse_int_accepts(value, expected):
    assert parse_int(value) == expected


@pytest.mark.parametrize("value", ["R", "1.5", 1.5, True])
def test_parse_int_rejects(value):
    with pytest.raises(ValueError):
        parse_int(value)
