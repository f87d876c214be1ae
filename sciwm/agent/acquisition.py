"""Acquisition functions and their optimisation over the unit box (all scores: larger is better).

For an Objective (sciwm.agent.objective) and one GP per observable (sciwm.agent.surrogate):
  ei:  expected improvement of the loss over `best` (the lowest feasible loss observed), in
       closed form for the three modes (for target mode the loss |y - t| is folded: the improvement
       region is t - best < y < t + best), times the probability that every constraint holds
       (Gardner et al. 2014). With no feasible point yet (best = NaN) the score is that
       probability alone (the posterior std when there are no constraints: pure exploration).
  ei_per_cost: ei divided by the predicted seconds of a reference run there (cost-aware BO,
       Snoek et al. 2012).
  ucb: minus the optimistic loss (mean loss - beta * std; |m - t| - beta * std floored at 0 in
       target mode) minus scale * (1 - probability of feasibility) per constraint.
Optimisation: a scrambled Sobol set of candidates (seeded) screens the box; the best few start
L-BFGS-B runs (JAX gradients; finite differences for the cost, which is a black box); the best
end point wins. Batches: kriging believer (Ginsbourger et al. 2010): after each pick the GPs are
conditioned on their own mean there (sciwm.agent.surrogate.fantasise), which shrinks the
variance nearby and moves the next pick elsewhere. Deterministic given the seed.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm
from scipy.optimize import minimize
from scipy.stats import qmc

from sciwm.agent.objective import Objective
from sciwm.agent.surrogate import GP, fantasise, float64, predict_mean_var

KINDS = ("ei", "ucb")
Cost = Callable[[np.ndarray], np.ndarray]  # (n, d) unit-box points -> (n,) predicted seconds (> 0)


def expected_improvement(mean, std, best):
    """E[max(best - y, 0)] for y ~ N(mean, std^2): improvement of a loss to minimise."""
    z = (best - mean) / std
    return std * (z * norm.cdf(z) + norm.pdf(z))


def expected_improvement_target(mean, std, target, best):
    """E[max(best - |y - target|, 0)] for y ~ N(mean, std^2) and best >= 0."""
    za, zt, zc = ((v - mean) / std for v in (target - best, target, target + best))
    low = (best - target + mean) * (norm.cdf(zt) - norm.cdf(za)) + std * (norm.pdf(za) - norm.pdf(zt))
    high = (best + target - mean) * (norm.cdf(zc) - norm.cdf(zt)) - std * (norm.pdf(zt) - norm.pdf(zc))
    return low + high


def probability_within(mean, std, low, high):
    """P(low <= y <= high) for y ~ N(mean, std^2)."""
    return norm.cdf((high - mean) / std) - norm.cdf((low - mean) / std)


def lower_confidence_bound(mean, std, beta):
    return mean - beta * std


def score(surrogates: dict[str, GP], x, best, objective: Objective, kind: str, beta=2.0, scale=1.0):
    """(n,) acquisition at unit-box points x (n, d); jittable. best: lowest feasible loss so far,
    or NaN. scale: loss units per unit of infeasibility (ucb only)."""
    pred = {name: predict_mean_var(gp, x) for name, gp in surrogates.items()}
    std = {name: jnp.sqrt(v + 1e-18) for name, (_, v) in pred.items()}
    mean = {name: m for name, (m, _) in pred.items()}
    feasible = [probability_within(mean[c.observable], std[c.observable], c.target - c.tolerance,
                                   c.target + c.tolerance) for c in objective.constraints]
    m, s = mean[objective.observable], std[objective.observable]
    sign = -1.0 if objective.mode == "maximise" else 1.0
    if kind == "ucb":
        if objective.mode == "target":
            optimistic = jnp.maximum(jnp.abs(m - objective.target) - beta * s, 0.0)
        else:
            optimistic = lower_confidence_bound(sign * m, s, beta)
        return -optimistic - scale * sum((1.0 - p for p in feasible), jnp.zeros_like(m))
    no_best = jnp.isnan(best)
    safe = jnp.where(no_best, 0.0, best)  # keeps NaN out of the gradients
    if objective.mode == "target":
        ei = expected_improvement_target(m, s, objective.target, safe)
    else:
        ei = expected_improvement(sign * m, s, safe)
    ei = jnp.where(no_best, jnp.ones_like(m) if feasible else s, ei)
    for p in feasible:
        ei = ei * p
    return ei


_score = jax.jit(score, static_argnames=("objective", "kind"))


@partial(jax.jit, static_argnames=("objective", "kind"))
def _value_and_grad(surrogates, x1, best, objective, kind, beta, scale):
    return jax.value_and_grad(lambda x: score(surrogates, x[None], best, objective, kind, beta, scale)[0])(x1)


def maximise(values: Callable[[np.ndarray], np.ndarray], value_and_grad, dim: int, seed: int,
             cost: Cost | None = None, n_candidates: int = 256, n_restarts: int = 4) -> tuple[np.ndarray, float]:
    """Maximise value(x) / cost(x) over [0, 1]^dim. values: (n, d) points -> (n,) values;
    value_and_grad: (d,) point -> (value, (d,) gradient). Returns the best point and its score."""
    cost = cost or (lambda x: np.ones(len(x)))
    candidates = qmc.Sobol(dim, scramble=True, rng=np.random.default_rng(seed)).random(n_candidates)
    scores = values(candidates) / np.maximum(cost(candidates), 1e-9)
    scores = np.where(np.isfinite(scores), scores, -np.inf)
    order = np.argsort(-scores, kind="stable")
    best_x, best_score = candidates[order[0]], float(scores[order[0]])

    def negative(x):
        value, grad = value_and_grad(x)
        c = max(float(cost(x[None])[0]), 1e-9)
        h = np.where(x + 1e-4 <= 1.0, 1e-4, -1e-4)  # forward differences that stay in the box
        dc = np.array([cost((x + h[i] * np.eye(dim)[i])[None])[0] - c for i in range(dim)]) / h
        grad = (grad * c - value * dc) / c**2
        return -value / c, -np.where(np.isfinite(grad), grad, 0.0)

    for start in candidates[order[:n_restarts]]:
        result = minimize(negative, start, jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * dim,
                          options={"maxiter": 50})
        if np.isfinite(result.fun) and -result.fun > best_score:
            best_x, best_score = np.clip(result.x, 0.0, 1.0), float(-result.fun)
    return best_x, best_score


def propose_batch(surrogates: dict[str, GP], objective: Objective, best: float | None, size: int, seed: int,
                  kind: str = "ei", cost: Cost | None = None, beta: float = 2.0, scale: float = 1.0,
                  n_candidates: int = 256, n_restarts: int = 4) -> np.ndarray:
    """(size, d) unit-box points to evaluate next, picked one at a time by kriging believer."""
    if kind not in KINDS:
        raise ValueError(f"unknown acquisition {kind!r}: one of {', '.join(KINDS)}")
    best = np.nan if best is None else float(best)
    dim = next(iter(surrogates.values())).x.shape[1]
    picks = []
    with float64():
        for i in range(size):
            args = (best, objective, kind, beta, scale)

            def values(x, s=surrogates):
                return np.asarray(_score(s, jnp.asarray(x), *args))

            def value_and_grad(x, s=surrogates):
                value, grad = _value_and_grad(s, jnp.asarray(x), *args)
                return float(value), np.asarray(grad)

            x, _ = maximise(values, value_and_grad, dim, seed + i, cost, n_candidates, n_restarts)
            picks.append(x)
            if i + 1 < size:
                surrogates = {name: fantasise(gp, x) for name, gp in surrogates.items()}
    return np.array(picks)
