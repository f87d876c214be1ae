"""What to try next, as a pure function of the finished queries: the proposals of one round.

Round 0 is a space-filling design (scrambled Sobol, `initial_points`); random search draws uniform
points instead. Later rounds fit one GP per modelled observable (sciwm.agent.surrogate) — on the
reference results, with a low-fidelity GP on the world model's results as prior mean when those
exist — and pick `batch_size` points by the configured acquisition (sciwm.agent.acquisition).
Every random choice derives from (seed, round), so the same ledger gives the same proposals.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.stats import qmc

from sciwm.agent.acquisition import propose_batch
from sciwm.agent.config import CampaignConfig, Parameter
from sciwm.agent.ledger import Query
from sciwm.agent.objective import Objective
from sciwm.agent.surrogate import GP, fit_gp


def derive_seed(seed: int, *keys: int) -> int:
    """A 31-bit seed from the campaign seed and integer keys. Keys used: (0, round, slot) the MD
    seed of a query, (1, round) the acquisition, (2, round) the GP fits."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0] % 2**31)


def to_params(x: np.ndarray, parameters: tuple[Parameter, ...]) -> dict[str, float]:
    """Unit-box point (d,) -> parameters in physical units."""
    return {p.name: float(p.low + v * (p.high - p.low)) for p, v in zip(parameters, x)}


def to_unit(params: dict, parameters: tuple[Parameter, ...]) -> np.ndarray:
    return np.array([(params[p.name] - p.low) / (p.high - p.low) for p in parameters])


def best_query(objective: Objective, rows: list[Query]) -> Query | None:
    """The finished query with the lowest loss among the feasible ones (first on ties), or None."""
    done = [q for q in rows if q.status == "done" and objective.feasible(q.observables)]
    losses = [objective.loss(q.observables) for q in done]
    return done[int(np.argmin(losses))] if losses and np.isfinite(min(losses)) else None


def most_promising(objective: Objective, rows: list[Query]) -> Query:
    """The row to check first: the best feasible one; if none is feasible (or none finished), the
    one closest to feasibility (summed constraint excess in units of each tolerance), then by loss."""
    best = best_query(objective, rows)
    if best is not None:
        return best

    def excess(q: Query) -> tuple[float, float]:
        values = q.observables or {}
        miss = sum(max(0.0, abs(values.get(c.observable, np.inf) - c.target) - c.tolerance) / c.tolerance
                   for c in objective.constraints) if q.status == "done" else np.inf
        return (np.nan_to_num(miss, nan=np.inf), objective.loss(values) if q.status == "done" else np.inf)

    return min(rows, key=excess)


def fit_surrogates(config: CampaignConfig, reference: list[Query], world_model: list[Query],
                   seed: int) -> dict[str, GP] | None:
    """One GP per modelled observable (None if one has no data at all): a low-fidelity GP on the
    world-model rows (their stds as known noise) is the prior mean of the GP on reference rows."""
    surrogates = {}
    for i, name in enumerate(config.objective.observables):
        prior = _fit(config, world_model, name, None, derive_seed(seed, i, 0))
        gp = _fit(config, reference, name, prior, derive_seed(seed, i, 1))
        if gp is None and prior is None:
            return None
        surrogates[name] = prior if gp is None else gp
    return surrogates


def _fit(config, rows: list[Query], name: str, prior: GP | None, seed: int) -> GP | None:
    rows = [q for q in rows if q.status == "done" and np.isfinite((q.observables or {}).get(name, np.nan))]
    if not rows:
        return None
    x = np.array([to_unit(q.params, config.parameters) for q in rows])
    y = np.array([q.observables[name] for q in rows])
    var = np.array([((q.stds or {}).get(name) or 0.0) ** 2 for q in rows])
    return fit_gp(x, y, var, prior=prior, seed=seed)


def propose(config: CampaignConfig, r: int, strategy: str, reference: list[Query], world_model: list[Query],
            cost: Callable[[dict], float] | None = None) -> np.ndarray:
    """(n, d) unit-box proposals of round r. cost: predicted reference seconds at params, used by
    the ei_per_cost acquisition (None: plain EI)."""
    loop, d, seed = config.campaign, len(config.parameters), config.seed
    n = loop.initial_points if r == 0 else loop.batch_size
    if strategy == "random":
        return np.random.default_rng([seed, r]).uniform(size=(n, d))
    surrogates = None if r == 0 else fit_surrogates(config, reference, world_model, derive_seed(seed, 2, r))
    if surrogates is None:  # round 0, or no usable data yet: a space-filling design
        sobol = qmc.Sobol(d, scramble=True, rng=np.random.default_rng([seed, r]))
        return sobol.random(2 ** int(np.ceil(np.log2(n))))[:n]  # powers of 2 keep Sobol balanced
    objective = config.objective
    best = best_query(objective, reference)
    losses = np.array([objective.loss(q.observables) for q in reference if q.status == "done"])
    losses = losses[np.isfinite(losses)]

    def unit_cost(x):
        return np.array([cost(to_params(u, config.parameters)) for u in x])

    return propose_batch(surrogates, objective, None if best is None else objective.loss(best.observables),
                         loop.batch_size, derive_seed(seed, 1, r), kind="ucb" if loop.acquisition == "ucb" else "ei",
                         cost=unit_cost if cost is not None and loop.acquisition == "ei_per_cost" else None,
                         beta=loop.ucb_beta, scale=float(losses.std()) if len(losses) > 1 else 1.0)
