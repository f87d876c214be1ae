"""Symmetries of the velocity field and of the sampler, and the effect of the conditions."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciwm import testing
from sciwm.model.backbone import VelocityNet, conditions
from sciwm.model.config import ModelConfig
from sciwm.model.flow import flow_conditions, sample_one
from sciwm.model.io import init_params
from sciwm.systems import get_system

SMALL = dict(hidden_scalars=8, hidden_vectors=4, lmax=2, n_layers=2, n_radial=6)


def randomized(params, key, scale=0.3):
    """Untrained outputs are tiny; random weights make the symmetry checks meaningful."""
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(key, len(leaves))
    params = jax.tree_util.tree_unflatten(tree, [l + scale * jax.random.normal(k, l.shape) for l, k in zip(leaves, keys)])
    params["params"]["output_gain"] = jnp.float32(1.0)
    return params


@pytest.fixture(scope="module")
def ala2_net():
    system = get_system("ala2")
    symbols = [a.element.symbol for a in system.topology.atoms]
    config = ModelConfig(species=("C", "H", "N", "O"), n_neighbors=21, cutoff_nm=1.5, **SMALL)
    net = VelocityNet(config)
    params = randomized(init_params(net, 22, jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
    species = np.array([config.species.index(s) for s in symbols])
    return net, params, species, system.positions.astype(np.float32)


@pytest.fixture(scope="module")
def lj_net():
    system = get_system("lj", n_atoms=64, box_nm=1.6 * 1.3, seed=0)  # small box: 64 atoms
    config = ModelConfig(species=("Ar",), n_neighbors=16, cutoff_nm=0.7, periodic=True, npt=True, align=False, **SMALL)
    net = VelocityNet(config)
    params = randomized(init_params(net, 64, jax.random.PRNGKey(0)), jax.random.PRNGKey(2))
    return net, params, np.zeros(64, np.int32), system.positions.astype(np.float32), np.diag(system.box).astype(np.float32)


def cond(T=300.0, P=np.nan, lag=10.0, s=0.4):
    return conditions(jnp.float32(T), jnp.float32(P), jnp.float32(lag), jnp.float32(s))


def test_velocity_equivariant_for_molecules(ala2_net, rng):
    net, params, species, x = ala2_net
    x_s = x + rng.normal(scale=0.05, size=x.shape).astype(np.float32)
    f = jax.jit(lambda a, b, sp: net.apply(params, a, b, sp, None, cond(), 0.1)[0])
    assert np.abs(np.asarray(f(x_s, x, species))).max() > 1e-3  # not trivially zero
    testing.assert_equivariant_molecule(f, x_s, x, species, rng, atol=2e-4)


def test_velocity_equivariant_for_periodic_box(lj_net, rng):
    net, params, species, x, box = lj_net
    x_s = x + rng.normal(scale=0.03, size=x.shape).astype(np.float32)
    f = jax.jit(lambda a, b, sp, bx: net.apply(params, a, b, sp, bx, cond(P=1.0), 0.05))
    v, dv = f(x_s, x, species, box)
    assert np.abs(np.asarray(v)).max() > 1e-3 and np.isfinite(dv)
    testing.assert_equivariant_periodic(f, x_s, x, species, box, rng, atol=2e-4)


def test_conditions_change_the_output(ala2_net, lj_net):
    net, params, species, x = ala2_net
    x_s = x + 0.03
    apply = jax.jit(lambda c: net.apply(params, x_s, x, species, None, c, 0.1)[0])
    base = apply(cond())
    for changed in (cond(T=400.0), cond(lag=100.0), cond(s=0.9)):
        assert np.abs(np.asarray(apply(changed) - base)).max() > 1e-4
    net, params, species, x, box = lj_net
    apply = jax.jit(lambda c: net.apply(params, x + 0.01, x, species, box, c, 0.05))
    a, b = apply(cond(P=1.0)), apply(cond(P=1000.0))
    assert np.abs(np.asarray(a[0] - b[0])).max() > 1e-4 and abs(float(a[1] - b[1])) > 1e-6


def test_volume_conditions_reach_the_volume_move(lj_net):
    """NPT models condition on the start frame's volume per atom and on the flow's log-volume
    state: both enter as standardised scalars, and each changes the log-volume rate."""
    _, _, species, x, box = lj_net
    config = lj_net[0].config.replace(log_volume_mean=float(np.log(np.prod(box) / 64)), log_volume_std=0.05,
                                      log_volume_scale=0.02)
    net = VelocityNet(config)
    params = randomized(init_params(net, 64, jax.random.PRNGKey(0)), jax.random.PRNGKey(3))
    old = flow_conditions(lj_net[0].config, 100.0, 1000.0, 1.0, 0.4, box, 0.0, 64)
    assert old.shape == (5,)  # models without volume conditions keep their inputs
    start = flow_conditions(config, 100.0, 1000.0, 1.0, 0.4, box, 0.0, 64)
    np.testing.assert_allclose(np.asarray(start[5:]), [0.0, 0.0], atol=1e-4)
    moved = flow_conditions(config, 100.0, 1000.0, 1.0, 0.4, box * 1.01, 0.01, 64)
    np.testing.assert_allclose(np.asarray(moved[5:]), [3 * np.log(1.01) / 0.05, 0.5], rtol=1e-4)
    rate = jax.jit(lambda c: net.apply(params, x + 0.01, x, species, box, c, 0.05)[1])
    for changed in (start.at[5].set(1.0), start.at[6].set(1.0)):  # same geometry, one condition changed
        assert abs(float(rate(changed) - rate(start))) > 1e-6


def test_samples_equivariant_in_distribution(ala2_net, rng):
    net, params, species, x = ala2_net
    net = VelocityNet(net.config.replace(lag_table_ps=(1.0, 10.0), scale_table_nm=(0.02, 0.05)))
    n = 256

    @jax.jit
    def sample(x_t, seed):
        keys = jax.random.split(jax.random.PRNGKey(seed), n)
        return jax.vmap(lambda k: sample_one(net, params, k, species, x_t, None, 300.0, jnp.nan, 10.0, 3)[0])(keys)

    testing.assert_equivariant_in_distribution(sample, x, rng, n_samples=n)


def test_cube_symmetries_are_the_48_of_oh():
    mats = testing.cube_symmetries()
    assert len({m.tobytes() for m in mats}) == 48
    assert all(np.allclose(m @ m.T, np.eye(3)) for m in mats)
