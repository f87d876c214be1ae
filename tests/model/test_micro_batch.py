"""A gradient summed over micro-batches is the whole batch's gradient (each window keeps its key)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciwm.errors import InputError
from sciwm.model.backbone import VelocityNet
from sciwm.model.config import ModelConfig
from sciwm.model.flow import loss_and_grad
from sciwm.model.io import init_params
from sciwm.train.presets import get_preset
from sciwm.train.trainer import CPU_MICRO_BATCH, micro_batch


def npt_batch(rng, n_windows=8, n_atoms=32, box_nm=1.5):
    x_t = rng.uniform(0.0, box_nm, (n_windows, n_atoms, 3)).astype(np.float32)
    box_t = np.full((n_windows, 3), box_nm, np.float32)
    return {"x_t": x_t, "x_1": x_t + rng.normal(0.0, 0.02, x_t.shape).astype(np.float32),
            "box_t": box_t, "box_1": box_t * rng.uniform(0.99, 1.01, (n_windows, 1)).astype(np.float32),
            "temperature": np.full(n_windows, 100.0, np.float32),
            "pressure": rng.choice([1.0, 1000.0], n_windows).astype(np.float32),
            "lag_ps": rng.choice([1.0, 5.0], n_windows).astype(np.float32), "species": np.zeros(n_atoms, np.int32)}


def test_micro_batches_give_the_whole_batch_gradient(rng):
    config = ModelConfig(species=("Ar",), hidden_scalars=8, hidden_vectors=4, n_layers=1, n_neighbors=8,
                         cutoff_nm=0.7, periodic=True, npt=True, box_strain=True, align=False,
                         lag_table_ps=(1.0, 5.0), scale_table_nm=(0.02, 0.04), log_volume_scale=0.005)
    net = VelocityNet(config)
    params = init_params(net, 16, jax.random.PRNGKey(0))
    batch = jax.tree_util.tree_map(jnp.asarray, npt_batch(rng, n_atoms=16))
    f = jax.jit(lambda p, k, micro: loss_and_grad(net, p, k, batch, micro), static_argnums=2)
    key = jax.random.PRNGKey(3)
    loss, grads = f(params, key, None)
    assert np.isfinite(float(loss)) and float(loss) > 0.0
    loss_m, grads_m = f(params, key, 2)
    np.testing.assert_allclose(float(loss_m), float(loss), rtol=1e-5)
    for g_m, g in zip(jax.tree_util.tree_leaves(grads_m), jax.tree_util.tree_leaves(grads)):
        np.testing.assert_allclose(np.asarray(g_m), np.asarray(g), rtol=1e-3,
                                   atol=1e-3 * float(jnp.abs(g).max()))  # float32 sums in another order
    other, _ = f(params, jax.random.PRNGKey(4), 2)
    assert abs(float(other) - float(loss)) > 1e-6  # the keys matter: the match above is not by chance
    with pytest.raises(ValueError, match="does not divide"):
        loss_and_grad(net, params, key, batch, 3)


def test_micro_batch_choice():
    assert micro_batch(get_preset("ala2")) == CPU_MICRO_BATCH  # tests run on a CPU
    assert micro_batch(get_preset("debug")) is None  # a batch of 4: nothing to split
    assert micro_batch(get_preset("ala2", micro_batch=0)) is None
    assert micro_batch(get_preset("ala2", micro_batch=16)) == 16
    with pytest.raises(InputError, match="does not divide"):
        micro_batch(get_preset("ala2", micro_batch=5))
