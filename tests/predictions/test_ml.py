"""Pure ML pieces: ranking coherence, metrics on hand-computed examples, reproducibility, and
coherence of real predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax
from scipy.stats import spearmanr

from predictions.features.frames import status_is_car_failure
from predictions.ml.metrics import calibration_table, prediction_set_score, race_metrics
from predictions.ml.models import PACE_INPUTS, pace_design, race_predict, stage_fit
from predictions.ml.ranking import RankingModel, ranking_fit


def test_plackett_luce_simulation_matches_the_closed_form_win_probability():
    strengths = np.array([2.0, 1.0, 0.0, -1.0])
    model = RankingModel(weights=np.array([1.0]))
    ranks = model.simulate(strengths[:, None], n_sims=40000, seed=3)
    p_win = (ranks == 1).mean(axis=0)
    np.testing.assert_allclose(p_win, softmax(strengths), atol=0.01)
    # every simulated race is a permutation
    assert (np.sort(ranks, axis=1) == np.arange(1, 5)).all()


def test_place_dispersion_simulation_is_a_permutation_with_the_scaled_win_law():
    strengths = np.linspace(2, -2, 14)
    model = RankingModel(weights=np.array([1.0]), dispersion=np.array([2.0, 1.5, 1.0, 0.5]))
    ranks = model.simulate(strengths[:, None], n_sims=30000, seed=5)
    assert (np.sort(ranks, axis=1) == np.arange(1, 15)).all()
    np.testing.assert_allclose((ranks == 1).mean(axis=0), softmax(2.0 * strengths), atol=0.01)
    p_pod, p_pts = (ranks <= 3).mean(axis=0), (ranks <= 10).mean(axis=0)
    assert p_pod.sum() == pytest.approx(3) and p_pts.sum() == pytest.approx(10)
    assert ((ranks == 1).mean(axis=0) <= p_pod).all() and (p_pod <= p_pts).all()


# QA (M29): the retirement draw of the simulation, with hand-set DNF probabilities. Driver 0 is by
# far the strongest (strength 10 against 0: P(he is beaten by a finisher) = 3 / (e^10 + 3) < 2e-4),
# so where he finishes is decided by his retirement alone.
_DNF_STRENGTHS = np.array([10.0, 0.0, 0.0, 0.0])
_DNF_SIMS = 20000


def _tolerance(p: float, n_sims: int = _DNF_SIMS) -> float:
    """Five standard errors of a frequency with probability p over n_sims simulated races."""
    return 5 * np.sqrt(p * (1 - p) / n_sims)


def test_a_certain_retirement_finishes_last_behind_every_finisher():
    model = RankingModel(weights=np.array([1.0]))
    ranks = model.simulate(
        _DNF_STRENGTHS[:, None], dnf_prob=np.array([1.0, 0, 0, 0]), n_sims=_DNF_SIMS, seed=4
    )
    assert (ranks[:, 0] == 4).all()
    assert (np.sort(ranks, axis=1) == np.arange(1, 5)).all()
    # the three finishers are equally strong: each wins a third of the races
    np.testing.assert_allclose((ranks[:, 1:] == 1).mean(axis=0), 1 / 3, atol=_tolerance(1 / 3))
    # two retirements fill the last two places, in Plackett-Luce order between themselves:
    # P(driver 0 ahead of driver 1) = e^10 / (e^10 + e^5)
    ranks = model.simulate(
        np.array([10.0, 5.0, 0.0, 0.0])[:, None],
        dnf_prob=np.array([1.0, 1.0, 0, 0]),
        n_sims=_DNF_SIMS,
        seed=4,
    )
    assert set(ranks[:, 0]) | set(ranks[:, 1]) == {3, 4} and set(ranks[:, 2]) | set(ranks[:, 3]) == {1, 2}
    p_ahead = np.exp(10) / (np.exp(10) + np.exp(5))
    assert (ranks[:, 0] == 3).mean() == pytest.approx(p_ahead, abs=_tolerance(p_ahead))


def test_zero_retirement_probabilities_are_the_same_race_as_none():
    model = RankingModel(weights=np.array([1.0]))
    strengths = np.array([1.0, 0.5, 0.0, -1.0])
    with_zeros = model.simulate(strengths[:, None], dnf_prob=np.zeros(4), n_sims=_DNF_SIMS, seed=6)
    without = model.simulate(strengths[:, None], n_sims=_DNF_SIMS, seed=6)
    # The DNF draw takes numbers from the seeded stream first, so the two are not the same draws;
    # they are the same distribution: plain Plackett-Luce, P(win) = softmax(strength).
    for ranks in (with_zeros, without):
        win = softmax(strengths)
        np.testing.assert_allclose((ranks == 1).mean(axis=0), win, atol=_tolerance(win.max()))
    for place in range(1, 5):
        a, b = (with_zeros == place).mean(axis=0), (without == place).mean(axis=0)
        np.testing.assert_allclose(a, b, atol=2 * _tolerance(0.5))


def test_an_even_retirement_chance_puts_the_favourite_last_half_the_time():
    model = RankingModel(weights=np.array([1.0]))
    ranks = model.simulate(
        _DNF_STRENGTHS[:, None], dnf_prob=np.array([0.5, 0, 0, 0]), n_sims=_DNF_SIMS, seed=8
    )
    assert (ranks[:, 0] == 4).mean() == pytest.approx(0.5, abs=_tolerance(0.5))
    assert (ranks[:, 0] == 1).mean() == pytest.approx(0.5, abs=_tolerance(0.5))
    # the others never retire: when driver 0 does, one of them wins, each a third of those races
    assert (ranks[:, 1:] == 1).mean(axis=0) == pytest.approx([1 / 6] * 3, abs=_tolerance(1 / 6))


def test_ranking_fit_recovers_a_known_weight():
    rng = np.random.default_rng(0)
    races = []
    for _ in range(300):
        x = rng.normal(size=(10, 1))
        order = np.argsort(-(1.5 * x[:, 0] + rng.gumbel(size=10)))
        finish = np.empty(10)
        finish[order] = np.arange(1, 11)
        races.append((np.column_stack([x[:, 0], np.zeros(10), np.zeros(10)]), finish))
    fitted = ranking_fit(races)
    assert fitted.weights[0] == pytest.approx(1.5, abs=0.2)


def test_pace_design_is_minus_log_rank_within_each_race_and_missing_takes_the_middle():
    rows = pd.DataFrame(
        {
            "race_id": [1, 1, 1, 1, 2, 2],
            "team_quali_gap_5": [0.1, 0.5, 0.3, np.nan, 2.0, 1.0],  # lower = better
            "driver_points_form_5": [25.0, 0.0, 10.0, 1.0, 5.0, 5.0],  # higher = better
        }
    )
    for name, _, _ in PACE_INPUTS:
        if name not in rows:
            rows[name] = np.nan  # absent for every driver: a per-race constant
    X = pace_design(rows, "pre")
    gap, pts = X[:, 0], X[:, 1]
    # race 1: ranks 1, 3, 2 and the missing driver the middle of 4 -> 2.5; race 2: 2, 1
    np.testing.assert_allclose(gap, -np.log([1, 3, 2, 2.5, 2, 1]))
    np.testing.assert_allclose(pts, -np.log([1, 4, 2, 3, 1.5, 1.5]))
    # an input missing for the whole race is constant within it (Plackett-Luce ignores it)
    assert np.ptp(X[:4, -1]) == 0 and np.ptp(X[4:, -1]) == 0
    # the post-qualifying design adds the grid, the gap to pole and the sprint
    assert pace_design(rows, "post").shape[1] == X.shape[1] + 3


def test_car_failures_are_split_from_incidents_and_finishes():
    status = pd.Series(
        ["Finished", "+1 Lap", "Engine", "Collision", "Accident", "Hydraulics", "Retired", None]
    )
    assert status_is_car_failure(status).tolist() == [False, False, True, False, False, True, True, False]


def test_ranking_race_weight_two_equals_the_race_counted_twice():
    rng = np.random.default_rng(3)
    races = [(rng.normal(size=(n, 2)), rng.permutation(n) + 1) for n in (6, 9, 7, 8)]
    weighted = ranking_fit(races, race_weights=np.array([1.0, 2.0, 1.0, 1.0]))
    duplicated = ranking_fit([*races, races[1]])
    np.testing.assert_allclose(weighted.weights, duplicated.weights, atol=1e-4)
    np.testing.assert_allclose(weighted.dispersion, duplicated.dispersion, atol=1e-4)
    assert not np.allclose(ranking_fit(races).weights, weighted.weights, atol=1e-4)


def test_race_metrics_hand_computed():
    # predicted ranks vs actual finishing order for 4 drivers; driver 3 retired (finish 4)
    pred = np.array([1, 2, 3, 4])
    finish = np.array([2, 1, 4, 3])
    m = race_metrics(pred, finish, np.array([True, True, False, True]), places=2)
    assert m["mae"] == pytest.approx((1 + 1 + 1 + 1) / 4)
    assert m["winner_hit"] is False
    assert m["podium_overlap"] == pytest.approx(2 / 3)  # {0,1,2} vs {0,1,3}
    assert m["points_accuracy"] == pytest.approx(1.0)  # top-2 sets agree
    # finishers re-ranked: predicted [1,2,3] vs actual [2,1,3]
    assert m["mae_finishers"] == pytest.approx(2 / 3)
    assert m["spearman"] == pytest.approx(0.6)  # 1 - 6*4/(4*15)


def test_calibration_table_and_ece_hand_computed():
    p = np.array([0.05, 0.05, 0.95, 0.95])
    y = np.array([0, 1, 1, 1])
    rows, ece = calibration_table(p, y, bins=10)
    assert [r["n"] for r in rows] == [2, 2]
    assert ece == pytest.approx(0.5 * abs(0.05 - 0.5) + 0.5 * abs(0.95 - 1.0))


def test_prediction_set_score_brier_hand_computed():
    pred = pd.DataFrame(
        {
            "driver_id": [1, 2, 3],
            "predicted_position": [1, 2, 3],
            "p_win": [0.5, 0.3, 0.2],
            "p_podium": [1, 1, 1],
            "p_points": [1, 1, 1],
        }
    )
    actual = pd.DataFrame({"driver_id": [1, 2, 3], "finish": [2, 1, 3], "dnf": [0, 0, 0]})
    s = prediction_set_score(pred, actual, places=10)
    assert s["brier_win"] == pytest.approx((0.5**2 + 0.7**2 + 0.2**2) / 3)
    assert s["brier_podium"] == 0
    assert s["mae"] == pytest.approx(2 / 3)


def test_prediction_set_score_counts_an_unpredicted_driver_at_their_real_place():
    """QA repro: a pre-race set from the entry list (A, B, C), then a stand-in X races and wins.
    Scoring only the drivers in both and re-ranking them gave winner hit, MAE 0, podium 1.0."""
    pred = pd.DataFrame(
        {
            "driver_id": [1, 2, 3],
            "predicted_position": [1, 2, 3],
            "p_win": [0.5, 0.3, 0.2],
            "p_podium": [1.0, 1.0, 1.0],
            "p_points": [1.0, 1.0, 1.0],
        }
    )
    # X (9) wins; A, B, C take 2-4; Y (8) was not predicted either and retired (position order 5)
    actual = pd.DataFrame({"driver_id": [9, 1, 2, 3, 8], "finish": [1, 2, 3, 4, 5], "dnf": [0, 0, 0, 0, 1]})
    s = prediction_set_score(pred, actual, places=3)
    assert s["drivers"] == 3
    assert s["winner_hit"] is False
    assert s["mae"] == pytest.approx((1 + 1 + 1) / 3)
    assert s["podium_overlap"] == pytest.approx(2 / 3)  # A and B of the real podium X, A, B
    assert s["points_accuracy"] == pytest.approx(2 / 3)  # top 3: C was called in, finished 4th
    assert s["mae_finishers"] == pytest.approx(1.0)  # 1, 2, 3 vs 2, 3, 4 among the race's finishers
    assert s["brier_win"] == pytest.approx((0.5**2 + 0.3**2 + 0.2**2) / 3)  # nobody predicted won
    assert s["brier_podium"] == pytest.approx(1 / 3)
    assert s["spearman"] == pytest.approx(1.0)


def test_prediction_set_score_a_predicted_winner_who_did_not_race_is_a_miss():
    pred = pd.DataFrame(
        {
            "driver_id": [7, 1, 2],
            "predicted_position": [1, 2, 3],
            "p_win": [0.6, 0.3, 0.1],
            "p_podium": [1.0, 1.0, 1.0],
            "p_points": [1.0, 1.0, 1.0],
        }
    )
    actual = pd.DataFrame({"driver_id": [1, 2], "finish": [1, 2], "dnf": [0, 0]})
    s = prediction_set_score(pred, actual, places=10)
    assert s["drivers"] == 2 and s["winner_hit"] is False
    assert s["mae"] == pytest.approx(1.0)  # predicted 2 and 3, finished 1 and 2
    assert s["podium_overlap"] == pytest.approx(2 / 3)


def test_explanations_offer_only_features_whose_value_is_known():
    """QA repro: "practice_rank (unknown)" was the second-biggest reason for Hamilton in 2026 Qatar
    (pre): resetting the missing value to the training median moves the prediction."""
    from types import SimpleNamespace

    from predictions.ml.models import explain_position

    models = SimpleNamespace(features=["practice_rank", "grid", "form"])
    X = pd.DataFrame({"practice_rank": [np.nan, 3.0], "grid": [1.0, 2.0], "form": [2.0, np.nan]})
    # the position model's predictions with each feature reset in turn (feature-major, 2 drivers)
    moved = np.array([2.0, 6.0, 4.0, 7.0, 4.5, 1.0])
    out = explain_position(models, X, np.array([5.0, 8.0]), top=2, moved=moved)
    # driver 1: practice_rank (+3.0) is unknown, so grid (+1.0) and form (+0.5) are the two reasons
    assert out[0] == [
        {"feature": "grid", "value": 1.0, "contribution": 1.0},
        {"feature": "form", "value": 2.0, "contribution": 0.5},
    ]
    # driver 2: form (+7.0) is unknown; practice_rank +2.0, grid +1.0
    assert [(r["feature"], r["contribution"]) for r in out[1]] == [("practice_rank", 2.0), ("grid", 1.0)]


def _race_rows(features, season, rnd):
    from ingestion.models import Race

    race = Race.objects.get(season_id=season, round=rnd)
    return features[features["race_id"] == race.id].reset_index(drop=True)


@pytest.mark.django_db
@pytest.mark.parametrize("stage", ["pre", "post"])
def test_probabilities_are_coherent_on_real_races(ergast_data, real_features, trained_bundle, stage):
    bundle, _ = trained_bundle
    for season, rnd in [(2025, 3), (2025, 20), (2026, 7)]:
        rows = _race_rows(real_features, season, rnd)
        out = race_predict(bundle.stages[stage], rows)
        assert out["p_win"].sum() == pytest.approx(1.0)
        assert out["p_podium"].sum() == pytest.approx(3.0)
        assert out["p_points"].sum() == pytest.approx(10.0)
        assert (out["p_win"] <= out["p_podium"] + 1e-12).all()
        assert (out["p_podium"] <= out["p_points"] + 1e-12).all()
        assert sorted(out["predicted_position"]) == list(range(1, len(rows) + 1))
        # QA (M30): the order agrees with the probabilities published next to it, not only a
        # permutation: it follows the expected position, and the predicted winner is a favourite
        rho = spearmanr(out["predicted_position"], out["expected_position"]).statistic
        assert rho > 0.9, (season, rnd, rho)
        top3_by_p_win = set(out["p_win"].nlargest(3).index)
        assert out["predicted_position"].idxmin() in top3_by_p_win, (season, rnd)
        assert out["p_dnf"].between(0, 1).all() and out["confidence"].between(0, 1).all()
        assert all(len(e) > 0 for e in out["explanation"])


@pytest.mark.django_db
def test_predictions_are_reproducible(ergast_data, real_features, trained_bundle):
    bundle, _ = trained_bundle
    rows = _race_rows(real_features, 2025, 10)
    a = race_predict(bundle.stages["post"], rows)
    b = race_predict(bundle.stages["post"], rows)
    pd.testing.assert_frame_equal(a, b)
    # refitting on the same data with the same seed gives the same model
    train = real_features[(real_features["season"] == 2024) & real_features["finish"].notna()]
    m1, m2 = stage_fit(train, "pre"), stage_fit(train, "pre")
    pd.testing.assert_frame_equal(race_predict(m1, rows, explain=0), race_predict(m2, rows, explain=0))


@pytest.mark.django_db
def test_a_race_with_new_driver_and_new_teams_is_predicted(ergast_data, real_features, trained_bundle):
    from ingestion.models import Driver, Team

    bundle, _ = trained_bundle
    rows = _race_rows(real_features, 2026, 1)
    out = race_predict(bundle.stages["post"], rows)
    new_ids = {Driver.objects.get(ref="lindblad").id}
    new_teams = set(Team.objects.filter(ref__in=["cadillac", "audi"]).values_list("id", flat=True))
    assert new_ids <= set(out["driver_id"]) and new_teams <= set(out["team_id"])
    assert np.isfinite(out[["p_win", "p_podium", "p_points", "p_dnf", "expected_position"]].to_numpy()).all()
