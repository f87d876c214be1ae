"""Benchmark metrics on cases with known answers (issue 5 acceptance). The Jensen-Shannon
distances (identical, disjoint), the ideal-gas RDF and diffusion are tested with sciwm.analysis,
in tests/test_analysis.py."""
import numpy as np
import pytest

from sciwm.bench import metrics
from sciwm.units import BOLTZMANN_KJ_PER_MOL_K

# Symmetric, hence reversible with uniform stationary distribution; eigenvalues 1, 0.96, 0.94.
CHAIN = np.array([[0.97, 0.02, 0.01],
                  [0.02, 0.96, 0.02],
                  [0.01, 0.02, 0.97]])


def simulate_chain(t, n_steps, rng):
    cumulative, u = np.cumsum(t, axis=1), rng.random(n_steps)
    states = np.empty(n_steps, int)
    s = 0
    for i in range(n_steps):
        states[i] = s = int(np.searchsorted(cumulative[s], u[i]))
    return states


def test_ramachandran_states_grid_and_wrap():
    angles = np.array([[-np.pi, -np.pi], [0.0, 0.0], [np.pi, 0.0], [np.pi - 1e-9, np.pi - 1e-9], [3 * np.pi, 0.0]])
    np.testing.assert_array_equal(metrics.ramachandran_states(angles, n_bins=10), [0, 55, 5, 99, 5])


def test_count_matrix_never_crosses_replicas_and_skips_unassigned():
    c = metrics.count_matrix([np.array([0, 1]), np.array([1, 0, -1, 0])], n_states=2, lag=1)
    np.testing.assert_array_equal(c, [[0, 1], [1, 0]])
    np.testing.assert_array_equal(metrics.count_matrix([np.array([0, 1, 1])], 2, lag=2), [[0, 1], [0, 0]])


def test_transition_matrix_connected_set_and_detailed_balance(rng):
    # State 2 is entered once and never left: not in the strongly connected set; state 3 unvisited.
    dtraj = np.concatenate([simulate_chain(CHAIN[:2, :2] / CHAIN[:2, :2].sum(1, keepdims=True), 2000, rng), [2]])
    counts = metrics.count_matrix([dtraj], n_states=4, lag=1)
    t, active = metrics.transition_matrix(counts, reversible=True)
    np.testing.assert_array_equal(active, [0, 1])
    np.testing.assert_allclose(t.sum(1), 1.0)
    t3, _ = metrics.transition_matrix(metrics.count_matrix([simulate_chain(CHAIN, 3000, rng)], 3, 1))
    pi = np.linalg.matrix_power(t3, 10_000)[0]
    np.testing.assert_allclose(pi[:, None] * t3, (pi[:, None] * t3).T, atol=1e-10)
    t_nonrev, _ = metrics.transition_matrix(np.array([[1.0, 3.0], [1.0, 1.0]]), reversible=False)
    np.testing.assert_allclose(t_nonrev, [[0.25, 0.75], [0.5, 0.5]])


@pytest.mark.parametrize("reversible", [True, False])
def test_implied_timescales_of_known_chain(rng, reversible):
    """Markov chain: timescales are lag-independent, -1/ln(lambda) steps; within 10% here."""
    lam = np.sort(np.linalg.eigvalsh(CHAIN))[::-1][1:]
    dt_ps = 0.5
    expected = -dt_ps / np.log(lam)  # about 12.2 and 8.1 ps
    dtrajs = [simulate_chain(CHAIN, 50_000, rng) for _ in range(4)]
    for lag in (1, 5):
        its = metrics.implied_timescales(dtrajs, lag, dt_ps, k=3, reversible=reversible)
        np.testing.assert_allclose(its[:2], expected, rtol=0.1)
        assert np.isnan(its[2])  # only 3 states: two relaxation processes


def test_basin_populations_and_free_energy():
    states = np.array([0, 0, 0, 1, -1, 0, 0, 1])
    np.testing.assert_allclose(metrics.basin_populations(states, [0, 1]), [5 / 8, 2 / 8])
    kt = BOLTZMANN_KJ_PER_MOL_K * 300.0
    assert metrics.free_energy_difference(0.75, 0.25, 300.0) == pytest.approx(-kt * np.log(3.0))
    assert metrics.free_energy_difference(0.25, 0.75, 300.0) == pytest.approx(2.740, abs=1e-3)


def test_bootstrap_interval_contains_truth(rng):
    blocks = metrics.split_blocks(rng.normal(1.0, 1.0, size=10_000), 50)
    result = metrics.bootstrap(lambda b: float(np.mean(np.concatenate(b))), blocks, n=500, seed=1)
    assert result.low < 1.0 < result.high
    assert result.low < result.value < result.high
    assert result.std == pytest.approx(0.01, rel=0.3)  # sigma / sqrt(n)


def test_interval_coverage_spearman_mape():
    assert metrics.interval_coverage([1, 2, 3, 4], [0, 2, 3.5, 0], [2, 2, 4, 3]) == 0.5
    assert metrics.spearman([1, 2, 3, 4], [1, 10, 100, 1000]) == pytest.approx(1.0)
    assert np.isnan(metrics.spearman([1, 2, 3], [5, 5, 5]))
    assert metrics.mape([110.0, 90.0], [100.0, 100.0]) == pytest.approx(10.0)
