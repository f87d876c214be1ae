"""Observables on cases with known answers."""
import numpy as np
import pytest

from sciwm import analysis
from sciwm.engines.trajectory import Trajectory
from sciwm.systems.lj import argon_topology


def test_js_distance_identical_and_disjoint(rng):
    a = rng.uniform(-np.pi, np.pi, size=(5000, 2))
    assert analysis.js_distance(a, a) == 0.0
    left = np.column_stack([rng.uniform(-3, -0.1, 1000), rng.uniform(-3, 3, 1000)])
    right = np.column_stack([rng.uniform(0.1, 3, 1000), rng.uniform(-3, 3, 1000)])
    assert analysis.js_distance(left, right) == pytest.approx(np.sqrt(np.log(2)), rel=1e-9)
    assert analysis.js_distance_1d(left[:, 0], right[:, 0]) == pytest.approx(np.sqrt(np.log(2)), rel=1e-9)


def test_alpha_r_and_core_transitions():
    deg = np.radians
    seq = np.array([[deg(-70), deg(-40)], [deg(-70), deg(60)], [deg(-80), deg(150)], [deg(-80), deg(60)],
                    [deg(-70), deg(-30)], [deg(60), deg(40)], [deg(-70), deg(-35)]])
    np.testing.assert_array_equal(analysis.alpha_r(seq), [1, 0, 0, 0, 1, 0, 1])
    # alpha -> (buffer) -> beta -> (buffer) -> alpha -> (phi > 0) -> alpha: two core switches
    assert analysis.core_transitions(seq) == 2
    assert analysis.transition_rate_per_ns([seq, seq], frame_ps=1.0) == pytest.approx(4 / (14 * 1e-3))


def test_rdf_of_ideal_gas_is_one(rng):
    n, frames, box = 500, 20, 3.0
    positions = rng.uniform(0, box, size=(frames, n, 3)).astype(np.float32)
    nan = np.full(frames, np.nan)
    traj = Trajectory(argon_topology(n), np.arange(frames, dtype=float), positions,
                      np.tile(np.eye(3) * box, (frames, 1, 1)), nan, nan, nan, nan, nan, np.zeros(frames, int))
    r, g = analysis.rdf(traj, r_max_nm=1.4, bin_nm=0.1)
    assert np.all(np.abs(g[r > 0.3] - 1.0) < 0.1)


def random_walk(rng, d_nm2_ps, dt_ps, n_frames=1000, n_atoms=1000):
    steps = rng.normal(0.0, np.sqrt(2 * d_nm2_ps * dt_ps), size=(n_frames - 1, n_atoms, 3))
    start = rng.uniform(0, 3.0, size=(1, n_atoms, 3))
    return np.concatenate([start, start + np.cumsum(steps, axis=0)]), np.arange(n_frames) * dt_ps


def test_msd_hand_case():
    x = np.zeros((3, 1, 3))
    x[:, 0, 0] = [0.0, 1.0, 2.0]
    np.testing.assert_allclose(analysis.msd(x), [0.0, 1.0, 4.0], atol=1e-12)


def test_diffusion_coefficient_of_random_walk_wrapped_or_not(rng):
    d_true, box = 0.05, 3.0
    x, t = random_walk(rng, d_true, dt_ps=0.1)
    d = analysis.diffusion_coefficient(x, t)
    assert d == pytest.approx(d_true, rel=0.08)  # about 4 standard errors for 1000 walkers
    wrapped = np.mod(x, box)
    assert np.any(wrapped != x)
    assert analysis.diffusion_coefficient(wrapped, t, box=np.eye(3) * box) == pytest.approx(d, rel=1e-9)
    boxes = np.tile(np.eye(3) * box, (len(t), 1, 1))
    assert analysis.diffusion_coefficient(wrapped, t, box=boxes) == pytest.approx(d, rel=1e-9)
    # A uniform drift of 0.05 nm/ps inflates the MSD; removing the mean position recovers D * (1 - 1/N).
    drifted = x + 0.05 * t[:, None, None]
    assert analysis.diffusion_coefficient(drifted, t) > 1.5 * d_true
    assert analysis.diffusion_coefficient(drifted, t, remove_drift=True) == pytest.approx(d_true, rel=0.08)
