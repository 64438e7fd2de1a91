"""Plackett–Luce ranking with place-dependent dispersion: coherent win / podium / points
probabilities from per-driver strengths.

A simulated race first retires each driver with his DNF-model probability, then ranks the
finishers place by place: the winner is picked with probability softmax(c_1 · s) over the
field, the second with softmax(c_2 · s) over the rest, and so on. s is the driver's strength (a
weighted sum of the three models' outputs) and c_j a dispersion for the place group of j (win,
podium, points, the rest; the points group is the reference, c = 1). Plain Plackett–Luce (all c = 1)
cannot be calibrated at the front and in the midfield at once: races are far more predictable at
the front. Every simulated race is a permutation, so P(win) sums to 1, P(podium) to 3, P(points) to
the number of scoring places, and P(win) ≤ P(podium) ≤ P(points) — by construction. Weights and
dispersions are fitted by maximum likelihood on held-out races, which is what calibrates them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import logit, logsumexp

_EPS = 1e-4
# place groups (1-based places): 1 | 2-3 | 4-10 | 11+
_GROUP_EDGES = (1, 3, 10)
# far larger than any strength gap: a retired driver never outranks a finisher
_RETIRED_OFFSET = 1e6


def strength_inputs(position_pred: np.ndarray, points_prob: np.ndarray, dnf_prob: np.ndarray) -> np.ndarray:
    """Design matrix of the strength: -(expected position), logit P(points), logit P(DNF)."""
    return np.column_stack(
        [
            -np.asarray(position_pred, float),
            logit(np.clip(points_prob, _EPS, 1 - _EPS)),
            logit(np.clip(dnf_prob, _EPS, 1 - _EPS)),
        ]
    )


def place_groups(n: int) -> np.ndarray:
    places = np.arange(1, n + 1)
    return np.searchsorted(np.array(_GROUP_EDGES), places, side="left")


@dataclass
class RankingModel:
    weights: np.ndarray  # one per strength input
    dispersion: np.ndarray = None  # one per place group; None = plain Plackett–Luce

    def strength(self, inputs: np.ndarray) -> np.ndarray:
        return inputs @ self.weights

    def _scales(self, n: int) -> np.ndarray:
        if self.dispersion is None:
            return np.ones(n)
        return np.asarray(self.dispersion)[place_groups(n)]

    def simulate(
        self, inputs: np.ndarray, *, dnf_prob: np.ndarray | None = None, n_sims: int = 2000, seed: int = 0
    ) -> np.ndarray:
        """Finishing positions (1-based), shape (n_sims, n_drivers).

        With `dnf_prob`, each simulated race first retires drivers independently with their DNF
        probability; the finishers are ranked by the Plackett–Luce draw and the retirements fill the
        places behind them (in a Plackett–Luce order too). Without it, everyone is ranked at once.
        """
        s = self.strength(inputs)
        n = len(s)
        rng = np.random.default_rng(seed)
        scales = self._scales(n)
        if dnf_prob is None:
            retired = np.zeros((n_sims, n), dtype=bool)
        else:
            retired = rng.random((n_sims, n)) < np.asarray(dnf_prob)[None, :]
        # Places with the same dispersion are drawn at once (Gumbel top-k): sorting c·s + Gumbel
        # noise over the drivers not yet placed is the same distribution as drawing softmax(c·s)
        # place by place, at one sort per place group instead of one pass per place. Retirements
        # are pushed behind every finisher (finishers first, then retirements, each in PL order).
        ranks = np.zeros((n_sims, n), dtype=int)
        taken = np.zeros((n_sims, n), dtype=bool)
        rows = np.arange(n_sims)[:, None]
        start = 0
        while start < n:
            stop = start + 1
            while stop < n and scales[stop] == scales[start]:
                stop += 1
            noise = scales[start] * s[None, :] + rng.gumbel(size=(n_sims, n))
            score = np.where(taken, -np.inf, np.where(retired, noise - _RETIRED_OFFSET, noise))
            if stop - start == 1:
                picks = np.argmax(score, axis=1)[:, None]
            else:
                picks = np.argsort(-score, axis=1)[:, : stop - start]
            ranks[rows, picks] = np.arange(start + 1, stop + 1)[None, :]
            taken[rows, picks] = True
            start = stop
        return ranks


def _padded(races: list[tuple[np.ndarray, np.ndarray]]):
    """Stack the races into (race, place, input) arrays in finishing order, padded to the largest
    field, so the likelihood is one vectorised expression instead of a loop over races."""
    n_max, k = max(len(f) for _, f in races), races[0][0].shape[1]
    x = np.zeros((len(races), n_max, k))
    valid = np.zeros((len(races), n_max), dtype=bool)
    for r, (inputs, finish) in enumerate(races):
        x[r, : len(finish)] = inputs[np.argsort(finish, kind="stable")]
        valid[r, : len(finish)] = True
    groups = np.stack([place_groups(n_max)] * len(races))
    # row j of a race: the drivers still to be placed at place j (itself and those behind it)
    still = np.triu(np.ones((n_max, n_max), dtype=bool))[None, :, :] & valid[:, None, :]
    # a race's last place carries no choice; padded places none at all
    counted = valid & np.roll(valid, -1, axis=1)
    counted[:, -1] = False
    return x, still, groups, counted


def _neg_log_likelihood(
    params: np.ndarray, padded, k: int, race_weights: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Negative log-likelihood of the finishing orders and its gradient (weights, then the free
    dispersions of place groups 0, 1 and 3; group 2 is the reference, c = 1). `race_weights`
    scales each race's log-likelihood (e.g. to favour recent seasons)."""
    x, still, groups, counted = padded
    rw = np.ones(len(x)) if race_weights is None else np.asarray(race_weights, float)
    weights, dispersion = params[:k], np.insert(params[k:], 2, 1.0)
    s = x @ weights  # (race, driver in finishing order)
    c = dispersion[groups]  # (race, place)
    scaled = c[:, :, None] * s[:, None, :]  # (race, place, driver)
    # places that carry no choice take the whole row (finite), then count for nothing
    lse = logsumexp(np.where(still | ~counted[:, :, None], scaled, -np.inf), axis=2)
    chosen = c * s  # the driver who took place j is driver j in finishing order
    nll = -float(np.sum(rw[:, None] * np.where(counted, chosen - lse, 0.0)))
    # softmax over the drivers still to be placed; d(-log L)/dθ = -(chosen' - E_softmax[...'])
    p = np.where(still, np.exp(scaled - lse[:, :, None]), 0.0) * counted[:, :, None]
    wc = counted * rw[:, None]  # counted places, weighted by race
    expected_x = p @ x  # (race, place, input)
    w_grad = -np.einsum("rj,rjk->k", c * wc, x - expected_x)
    ds = wc * (s - np.einsum("rji,ri->rj", p, s))  # d(log L)/dc per place
    c_grad = -np.bincount(groups.ravel(), weights=ds.ravel(), minlength=len(dispersion))
    return nll, np.concatenate([w_grad, np.delete(c_grad, 2)])


def ranking_fit(
    races: list[tuple[np.ndarray, np.ndarray]], *, race_weights: np.ndarray | None = None
) -> RankingModel:
    """Maximum-likelihood weights and place-group dispersions from (strength inputs, finishing
    order of the drivers who finished) of held-out races; retirements are the DNF model's part.
    `race_weights`: one non-negative weight per race (default 1)."""
    k = races[0][0].shape[1]
    x0 = np.concatenate([np.full(k, 0.2), np.ones(3)])
    bounds = [(None, None)] * k + [(0.05, 20.0)] * 3
    res = minimize(
        _neg_log_likelihood,
        x0,
        args=(_padded(races), k, race_weights),
        method="L-BFGS-B",
        bounds=bounds,
        jac=True,
    )
    return RankingModel(weights=res.x[:k], dispersion=np.insert(res.x[k:], 2, 1.0))
