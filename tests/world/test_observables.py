"""World-model observables computed on emulated trajectories: the jump estimate of self-diffusion."""
from types import SimpleNamespace

import numpy as np
import pytest

from sciwm.errors import InputError
from sciwm.world import observables


def emulated_walk(rng, d_nm2_ps, lag_ps, replicas=4, frames=6, n_atoms=500, box_nm=3.0):
    """Frames of `replicas` independent random walks (replica r -> member r % 2), wrapped into a
    cubic box, laid out like an emulator's output (replica-major, `replica`/`member`/`flagged`)."""
    steps = rng.normal(0.0, np.sqrt(2 * d_nm2_ps * lag_ps), size=(replicas, frames, n_atoms, 3))
    x = rng.uniform(0, box_nm, size=(replicas, 1, n_atoms, 3)) + np.cumsum(steps, axis=1)
    n = replicas * frames
    return SimpleNamespace(
        positions=np.mod(x, box_nm).reshape(n, n_atoms, 3), box=np.tile(np.eye(3) * box_nm, (n, 1, 1)),
        time_ps=np.tile((np.arange(frames) + 1) * lag_ps, replicas), n_frames=n,
        extra={"replica": np.repeat(np.arange(replicas), frames), "member": np.repeat(np.arange(replicas) % 2, frames),
               "flagged": np.zeros(n, np.uint8)})


def test_jump_diffusion_recovers_a_random_walk_through_the_box(rng):
    d_true, lag = 0.005, 5.0  # 3-D rms jump 0.39 nm: well below half the 3-nm box
    traj = emulated_walk(rng, d_true, lag)
    d, member = observables.jump_diffusion(traj)
    assert member.tolist() == [0, 1, 0, 1]
    np.testing.assert_allclose(d, d_true, rtol=0.05)  # 2,500 squared jumps per replica: ~3% error
    members, sem = observables.diffusion_estimates(traj)
    np.testing.assert_allclose(members, [d[[0, 2]].mean(), d[[1, 3]].mean()])
    assert 0 < sem < 0.05 * d_true
    flagged = traj.extra["flagged"].copy()
    flagged[6:12] = 1  # replica 1 entirely flagged: no estimate, never a made-up number
    traj.extra["flagged"] = flagged
    d2, _ = observables.jump_diffusion(traj)
    assert np.isnan(d2[1]) and np.allclose(d2[[0, 2, 3]], d[[0, 2, 3]])


def test_diffusion_is_not_a_per_frame_observable():
    with pytest.raises(InputError, match="property of a trajectory"):
        observables.per_frame("diffusion_nm2_ps", SimpleNamespace(n_frames=3))
