"""Metrics for `sciwm bench`: Markov state models, basin free energies, bootstrap errors, and
calibration / cost scores (diffusion lives in `sciwm.analysis`). Pure numpy/scipy; every function
works on plain arrays, so reference and emulated trajectories are scored by the same code.

Conventions: angles radians, wrapped onto [-pi, pi); lengths nm; times ps; energies kJ/mol;
temperatures K. Discrete trajectories (dtrajs) are 1-D int arrays of state indices, one array per
independent run or replica; a negative index marks an unassigned frame. Histogram distances
(Jensen-Shannon) and basin definitions live in `sciwm.analysis` and are not repeated here.

MSM estimator (own implementation; deeptime is not a dependency): sliding-window counts at lag
tau within each dtraj, restricted to the largest strongly connected set of states, then either
the row-normalised counts (non-reversible) or the reversible maximum-likelihood transition
matrix from the fixed-point iteration of Prinz et al., J. Chem. Phys. 134, 174105 (2011), Eq. 25
(also Bowman et al. 2009). Implied timescale t_i = -tau / ln|lambda_i|.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import numpy as np
from scipy import stats
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from sciwm.errors import InputError
from sciwm.units import BOLTZMANN_KJ_PER_MOL_K


# ---------------------------------------------------------------- Markov state models
def ramachandran_states(angles: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """(n, 2) phi/psi radians -> (n,) int microstates of a regular n_bins x n_bins grid.

    Cells are 360/n_bins degrees wide (default 10 -> 36 deg, 100 states: fine enough to separate
    alpha-R, beta/C7eq and alpha-L, coarse enough to be well sampled in a few ns). Angles are
    wrapped onto [-pi, pi) first; state = i_phi * n_bins + i_psi. Unvisited cells simply never
    appear; `transition_matrix` drops them with the rest of the disconnected states.
    """
    wrapped = np.mod(np.asarray(angles, float) + np.pi, 2 * np.pi)
    cell = np.minimum((wrapped / (2 * np.pi) * n_bins).astype(int), n_bins - 1)
    return cell[:, 0] * n_bins + cell[:, 1]


def count_matrix(dtrajs: Sequence[np.ndarray], n_states: int, lag: int) -> np.ndarray:
    """(n_states, n_states) sliding-window transition counts C_ij = #(s_t = i, s_{t+lag} = j).

    Counted within each dtraj separately (never across replica boundaries); pairs with a negative
    (unassigned) end are skipped. lag in frames, >= 1.
    """
    if lag < 1:
        raise InputError(f"lag must be at least one frame, got {lag}")
    counts = np.zeros((n_states, n_states))
    for d in dtrajs:
        d = np.asarray(d, int)
        a, b = d[:-lag], d[lag:]
        keep = (a >= 0) & (b >= 0)
        np.add.at(counts, (a[keep], b[keep]), 1.0)
    return counts


def largest_connected_set(counts: np.ndarray) -> np.ndarray:
    """Sorted indices of the largest strongly connected set of the count graph (edges C_ij > 0)."""
    _, labels = connected_components(csr_matrix(counts > 0), directed=True, connection="strong")
    visited = (counts.sum(0) + counts.sum(1)) > 0
    sizes = np.bincount(labels[visited], minlength=labels.max() + 1)
    return np.flatnonzero((labels == np.argmax(sizes)) & visited)


def transition_matrix(counts: np.ndarray, reversible: bool = True, tol: float = 1e-12,
                      max_iter: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """Row-stochastic transition matrix on the largest strongly connected set: (T, active).

    T is (n_active, n_active) over the states `active` (indices into counts). reversible=False:
    T_ij = C_ij / sum_j C_ij. reversible=True: the maximum-likelihood T under detailed balance,
    from the fixed-point iteration x_ij <- (C_ij + C_ji) / (c_i / x_i + c_j / x_j) with
    c_i = sum_j C_ij and x_i = sum_j x_ij, started at C + C^T and stopped when the row sums of x
    change by less than tol (relative); then T_ij = x_ij / x_i and pi_i = x_i / sum(x).
    """
    if not np.any(counts > 0):
        raise InputError("no transitions counted: trajectories shorter than the lag or all unassigned")
    active = largest_connected_set(counts)
    c = np.asarray(counts, float)[np.ix_(active, active)]
    if len(active) == 1:
        return np.ones((1, 1)), active
    if not reversible:
        return c / c.sum(1, keepdims=True), active
    c_sym, c_row = c + c.T, c.sum(1)
    x = c_sym.copy()
    for _ in range(max_iter):
        q = c_row / x.sum(1)
        x_new = c_sym / (q[:, None] + q[None, :])
        change = np.max(np.abs(x_new.sum(1) - x.sum(1))) / x_new.sum()
        x = x_new
        if change < tol:
            break
    return x / x.sum(1, keepdims=True), active


def implied_timescales(dtrajs: Sequence[np.ndarray], lag_frames: int, dt_ps: float, k: int = 3,
                       n_states: int | None = None, reversible: bool = True) -> np.ndarray:
    """(k,) slowest implied timescales in ps, t_i = -lag_frames * dt_ps / ln|lambda_i|, i = 1..k.

    lambda_1..k are the eigenvalues of the MSM transition matrix at lag lag_frames (frames dt_ps
    apart) after the stationary one, ordered by decreasing modulus. NaN pads where the connected
    set has fewer than k + 1 states. n_states defaults to max(state) + 1.
    """
    if n_states is None:
        n_states = int(max(np.max(d) for d in dtrajs)) + 1
    t, _ = transition_matrix(count_matrix(dtrajs, n_states, lag_frames), reversible)
    modulus = np.sort(np.abs(np.linalg.eigvals(t)))[::-1][1:k + 1]
    with np.errstate(divide="ignore"):
        its = -lag_frames * dt_ps / np.log(np.clip(modulus, 1e-300, 1.0))
    return np.concatenate([its, np.full(k - len(its), np.nan)])


# ---------------------------------------------------------------- populations and errors
def basin_populations(states: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """(len(labels),) fraction of all frames in each labelled state (e.g. analysis.core_states).

    The denominator is all frames, unassigned ones included, so populations may sum to < 1;
    ratios (hence free-energy differences) do not depend on this choice.
    """
    states = np.asarray(states)
    if len(states) == 0:
        return np.full(len(labels), np.nan)
    return np.array([np.mean(states == label) for label in labels])


def free_energy_difference(pop_a, pop_b, temperature_K: float):
    """G_A - G_B = -k_B T ln(p_A / p_B) in kJ/mol (negative when A is more populated)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.asarray(pop_a, float) / np.asarray(pop_b, float)
        return -BOLTZMANN_KJ_PER_MOL_K * temperature_K * np.log(ratio)


def split_blocks(x: np.ndarray, n_blocks: int) -> list[np.ndarray]:
    """One correlated series cut into n_blocks contiguous blocks along axis 0 (for `bootstrap`)."""
    return np.array_split(np.asarray(x), n_blocks)


class Interval(NamedTuple):
    """A bootstrap estimate: value on the full data, percentile interval, bootstrap std."""

    value: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray
    std: float | np.ndarray


def bootstrap(fn: Callable[[list[np.ndarray]], float | np.ndarray], data_blocks: Sequence[np.ndarray],
              n: int = 1000, seed: int = 0, confidence: float = 0.95) -> Interval:
    """Block bootstrap: fn(list of blocks) recomputed on n resamples of whole blocks.

    data_blocks are independent replicas, or contiguous blocks of one run (`split_blocks`) each
    much longer than the correlation time: resampling frames individually would understate the
    error of correlated MD data. Blocks are drawn with replacement, as many as given; the
    interval is the central `confidence` percentile interval; fn may return a scalar or an array.
    """
    blocks = list(data_blocks)
    rng = np.random.default_rng(seed)
    draws = np.array([fn([blocks[i] for i in rng.integers(0, len(blocks), len(blocks))]) for _ in range(n)])
    alpha = 100 * (1 - confidence) / 2
    low, high = np.nanpercentile(draws, [alpha, 100 - alpha], axis=0)
    return Interval(fn(blocks), low, high, np.nanstd(draws, axis=0))


# ---------------------------------------------------------------- calibration and cost
def interval_coverage(truth, low, high) -> float:
    """Fraction of entries with low <= truth <= high (bounds inclusive)."""
    truth, low, high = (np.asarray(a, float) for a in (truth, low, high))
    return float(np.mean((truth >= low) & (truth <= high)))


def spearman(x, y) -> float:
    """Spearman rank correlation of x and y; NaN when either is constant (undefined)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)


def mape(pred, true) -> float:
    """Mean absolute percentage error, in percent: 100 * mean(|pred - true| / |true|)."""
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    return float(100.0 * np.mean(np.abs(pred - true) / np.abs(true)))
