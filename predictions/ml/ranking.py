"""Plackett–Luce ranking: coherent win / podium / points probabilities from per-driver strengths.

A race is a Plackett–Luce draw over the entrants: the winner is picked with probability
softmax(strength), the second among the rest, and so on. Sampling uses the Gumbel-max trick
(sort strength + Gumbel noise), so every simulated race has exactly one winner, three podium
finishers and `places` points scorers — the sums and P(win) ≤ P(podium) ≤ P(points) hold by
construction. Strengths combine the three models' outputs with weights fitted by maximum
likelihood on a held-out season, which is what calibrates the probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import logit

_EPS = 1e-4


def strength_inputs(position_pred: np.ndarray, points_prob: np.ndarray, dnf_prob: np.ndarray) -> np.ndarray:
    """Design matrix of the strength: -(expected position), logit P(points), logit P(DNF)."""
    return np.column_stack(
        [
            -np.asarray(position_pred, float),
            logit(np.clip(points_prob, _EPS, 1 - _EPS)),
            logit(np.clip(dnf_prob, _EPS, 1 - _EPS)),
        ]
    )


@dataclass
class RankingModel:
    weights: np.ndarray  # one per strength input

    def strength(self, inputs: np.ndarray) -> np.ndarray:
        return inputs @ self.weights

    def simulate(self, inputs: np.ndarray, *, n_sims: int = 4000, seed: int = 0) -> np.ndarray:
        """Finishing positions (1-based), shape (n_sims, n_drivers)."""
        s = self.strength(inputs)
        rng = np.random.default_rng(seed)
        noisy = s[None, :] + rng.gumbel(size=(n_sims, len(s)))
        order = np.argsort(-noisy, axis=1)
        ranks = np.empty_like(order)
        rows = np.arange(n_sims)[:, None]
        ranks[rows, order] = np.arange(1, len(s) + 1)[None, :]
        return ranks


def _neg_log_likelihood(weights: np.ndarray, races: list[tuple[np.ndarray, np.ndarray]], top: int) -> float:
    total = 0.0
    for inputs, finish in races:
        s = inputs @ weights
        s = s[np.argsort(finish)]  # in finishing order
        # log P(ordering) = sum_j s_j - logsumexp(s_j..s_n), over the first `top` places
        rev_lse = np.logaddexp.accumulate(s[::-1])[::-1]
        k = min(top, len(s) - 1)
        total -= float(np.sum(s[:k] - rev_lse[:k]))
    return total


def ranking_fit(races: list[tuple[np.ndarray, np.ndarray]], *, top: int = 10) -> RankingModel:
    """Maximum-likelihood weights from (strength inputs, actual finishing order) per race.

    The likelihood covers the first `top` places (the ones the probabilities are about): the order of
    the retirements at the back is mostly laps-completed noise.
    """
    x0 = np.array([0.3, 0.3, -0.1])
    res = minimize(_neg_log_likelihood, x0, args=(races, top), method="L-BFGS-B")
    return RankingModel(weights=res.x)
