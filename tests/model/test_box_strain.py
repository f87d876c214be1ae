"""NPT targets carry no barostat strain: a frame that only changed by the barostat's scaling
of (unwrapped) positions with the box is a zero move in the start box's frame."""
import jax.numpy as jnp
import numpy as np

from sciwm.model.flow import align_target


def test_barostat_strain_is_taken_out_of_the_target():
    rng = np.random.default_rng(0)
    x_t = rng.uniform(-8.0, 12.0, (64, 3)).astype(np.float32)  # unwrapped: spread over several 2.3-nm boxes
    factor = np.float32(1.01)  # the barostat scales positions about the origin with the box lengths
    x_1 = x_t * factor
    target = np.asarray(align_target(jnp.asarray(x_t), jnp.asarray(x_1), False, jnp.asarray(1.0 / factor)))
    np.testing.assert_allclose(target, x_t, atol=1e-5)
    unstrained = np.asarray(align_target(jnp.asarray(x_t), jnp.asarray(x_1), False))
    assert np.abs(unstrained - x_t).max() > 0.05  # without it the "move" is up to 0.1 nm per atom
