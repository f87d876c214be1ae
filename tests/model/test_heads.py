"""R-hat energy heads: invariance, learning a known pair energy, the out-of-bag residual, save/load
round trip."""
import jax
import jax.numpy as jnp
import numpy as np

from sciwm import testing
from sciwm.model.heads import EnergyEnsemble, EnergyHead, HeadConfig, fit_energy_heads


def test_energy_head_is_invariant(rng):
    config = HeadConfig(species=("A", "B"), n_neighbors=7, cutoff_nm=0.8, members=1)
    species = jnp.array([0, 0, 1, 1, 0, 1, 0, 0], jnp.int32)
    x = jnp.asarray(rng.normal(size=(8, 3)) * 0.25, jnp.float32)
    head = EnergyHead(config)
    params = head.init(jax.random.PRNGKey(0), x, species, None, jnp.float32(300.0))
    f = jax.jit(lambda xx: head.apply(params, xx, species, None, jnp.float32(300.0)))
    e = f(x)
    for _ in range(3):
        q = jnp.asarray(testing.random_orthogonal(rng), jnp.float32)
        perm = testing.identical_atom_permutation(np.asarray(species), rng)
        moved = (x @ q.T + jnp.asarray(rng.normal(size=3), jnp.float32))[perm]
        np.testing.assert_allclose(f(moved), e, rtol=1e-4, atol=1e-4)


def pair_energy(x):
    d = np.linalg.norm(x[:, :, None] - x[:, None], axis=-1)
    iu = np.triu_indices(x.shape[1], 1)
    r = d[:, iu[0], iu[1]]
    return np.sum(4 * ((0.3 / r) ** 12 - (0.3 / r) ** 6), axis=1)


def test_heads_learn_a_pair_energy_and_round_trip(rng, tmp_path):
    n = 600
    x = rng.uniform(0, 1.0, size=(n, 6, 3))
    x = x[np.min(np.linalg.norm(x[:, :, None] - x[:, None], axis=-1) + 9 * np.eye(6), axis=(1, 2)) > 0.3]
    energies = pair_energy(x)
    temps = np.full(len(x), 300.0)
    train, test = slice(0, len(x) - 80), slice(len(x) - 80, None)
    with jax.numpy_dtype_promotion("standard"):  # optax's schedules promote Python floats
        heads = fit_energy_heads(x[train], None, temps[train], energies[train], np.zeros(6, np.int32), ("Ar",),
                                 members=2, steps=800, batch=32, seed=0, cutoff_nm=1.5, n_neighbors=5)
    pred = heads.predict(x[test], None, temps[test])
    assert pred.shape == (2, 80)
    r2 = 1 - np.mean((pred.mean(0) - energies[test]) ** 2) / np.var(energies[test])
    assert r2 > 0.8, r2
    # the out-of-bag residual stands for the error on unseen frames (within a factor of 1.5 here)
    rms_test = np.sqrt(np.mean((pred - energies[test]) ** 2))
    assert 1 / 1.5 < heads.residual_std(300.0) / rms_test < 1.5, (heads.residual_std(300.0), rms_test)
    heads.save(str(tmp_path))
    again = EnergyEnsemble.load(str(tmp_path))
    np.testing.assert_allclose(again.predict(x[test], None, temps[test]), pred, rtol=1e-6)
    assert again.config == heads.config
