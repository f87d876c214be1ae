"""Acquisitions: closed forms against Monte Carlo; EI finds the known optimum of Branin; cost-aware
optimisation; batches by kriging believer are spread out and deterministic."""
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import qmc

from sciwm.agent.acquisition import (expected_improvement, expected_improvement_target, maximise,
                                     probability_within, propose_batch)
from sciwm.agent.objective import Constraint, Objective
from sciwm.agent.surrogate import fit_gp, float64

BRANIN_MINIMUM = 0.397887  # at (-pi, 12.275), (pi, 2.275), (9.42478, 2.475)


def branin(u):
    """Branin-Hoo on the unit square (x1 = 15 u1 - 5, x2 = 15 u2)."""
    x1, x2 = 15 * u[:, 0] - 5, 15 * u[:, 1]
    return (x2 - 5.1 / (4 * np.pi**2) * x1**2 + 5 / np.pi * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * np.pi)) * np.cos(x1) + 10


@pytest.mark.parametrize("mean, std, best, target",
                         [(0.3, 0.5, 0.2, 0.0), (1.0, 0.2, 0.5, 1.3), (-2.0, 1.5, 0.1, -1.0)])
def test_closed_forms_match_monte_carlo(mean, std, best, target):
    y = np.random.default_rng(0).normal(mean, std, size=400_000)
    with float64():
        ei = float(expected_improvement(jnp.asarray(mean), jnp.asarray(std), best))
        ei_t = float(expected_improvement_target(jnp.asarray(mean), jnp.asarray(std), target, best))
        within = float(probability_within(jnp.asarray(mean), jnp.asarray(std), target - 0.1, target + 0.1))
    assert ei == pytest.approx(np.maximum(best - y, 0).mean(), rel=0.02, abs=1e-4)
    assert ei_t == pytest.approx(np.maximum(best - np.abs(y - target), 0).mean(), rel=0.02, abs=1e-4)
    assert within == pytest.approx(np.mean(np.abs(y - target) <= 0.1), abs=3e-3)


def test_ei_finds_the_branin_optimum():
    """8 Sobol points then 22 EI steps (30 evaluations): within 0.05 of the global minimum."""
    objective = Objective("f", "minimise")
    x = qmc.Sobol(2, scramble=True, rng=np.random.default_rng(0)).random(8)
    y = branin(x)
    for step in range(22):
        gp = fit_gp(x, y, seed=step)
        new = propose_batch({"f": gp}, objective, float(y.min()), 1, seed=step)
        x, y = np.vstack([x, new]), np.append(y, branin(new))
    assert y.min() - BRANIN_MINIMUM < 0.05


def test_cost_aware_maximisation():
    """Flat value / cost with its minimum at (0.7, 0.2): the optimiser finds the cheapest point."""
    def cost(x):
        return 1.0 + (x[:, 0] - 0.7) ** 2 + (x[:, 1] - 0.2) ** 2

    x, score = maximise(lambda x: np.ones(len(x)), lambda x: (1.0, np.zeros(2)), 2, seed=0, cost=cost)
    assert np.allclose(x, [0.7, 0.2], atol=1e-3) and score == pytest.approx(1.0, abs=1e-6)


def test_batch_is_spread_out_and_deterministic():
    x = qmc.Sobol(2, scramble=True, rng=np.random.default_rng(1)).random(16)
    gp = fit_gp(x, branin(x), seed=0)
    objective = Objective("f", "minimise")
    batch = propose_batch({"f": gp}, objective, float(branin(x).min()), 3, seed=5)
    again = propose_batch({"f": gp}, objective, float(branin(x).min()), 3, seed=5)
    assert batch.shape == (3, 2) and np.all((batch >= 0) & (batch <= 1))
    assert np.array_equal(batch, again)
    gaps = [np.linalg.norm(batch[i] - batch[j]) for i in range(3) for j in range(i)]
    assert min(gaps) > 0.02


def test_target_mode_and_constraints():
    """Target y = 0.5 for y = x1 under |x2 - 0.8| <= 0.05: the proposal lands there. With no
    feasible point yet (best None) EI seeks feasibility alone."""
    x = qmc.Sobol(2, scramble=True, rng=np.random.default_rng(2)).random(16)
    surrogates = {"a": fit_gp(x, x[:, 0], seed=0), "b": fit_gp(x, x[:, 1], seed=1)}
    objective = Objective("a", "target", 0.5, (Constraint("b", 0.8, 0.05),))
    for kind in ("ei", "ucb"):
        point = propose_batch(surrogates, objective, 0.2, 1, seed=0, kind=kind)[0]
        assert abs(point[0] - 0.5) < 0.05 and abs(point[1] - 0.8) < 0.05, (kind, point)
    point = propose_batch(surrogates, objective, None, 1, seed=0)[0]
    assert abs(point[1] - 0.8) < 0.05
