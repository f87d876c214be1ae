"""EdgeMessage (the network's fused message sum) against its definition in e3nn-jax's operations."""
import e3nn_jax as e3nn
import jax
import numpy as np
import pytest

from sciwm.model.graph import knn_graph
from sciwm.model.message import EdgeMessage, reference_message


@pytest.mark.parametrize("irreps, lmax, n, k", [
    ("64x0e + 16x1o + 16x1e", 2, 22, 21),  # ala2-large
    ("32x0e + 8x1o + 8x1e", 2, 12, 5),  # debug preset, fewer neighbours than atoms
    ("8x0e + 4x1o + 4x1e", 1, 6, 5),  # lmax 1: no 2e edge features
    ("8x0e + 2x0o + 4x1o + 4x1e + 2x2e", 3, 7, 6),  # other irreps and paths (l up to 3 on edges)
])
def test_edge_message_equals_e3nn(irreps, lmax, n, k):
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    x = np.random.default_rng(0).normal(size=(n, 3)).astype(np.float32) * 0.3
    idx, vec, _ = knn_graph(x, None, k)
    sh = e3nn.spherical_harmonics(e3nn.Irreps.spherical_harmonics(lmax)[1:], vec, normalize=True,
                                  normalization="component")
    h = e3nn.normal(irreps, keys[0], (n,))
    message = EdgeMessage(irreps, sh.irreps)
    weights = jax.random.normal(keys[1], (n, k, message.irreps_out.num_irreps))
    expected = reference_message(irreps, sh.irreps, h.array, idx, sh.array, weights)
    layout = (e3nn.Irreps(irreps) + e3nn.tensor_product(irreps, sh.irreps, filter_ir_out=e3nn.Irreps(irreps))).regroup()
    assert message.irreps_out == layout
    got = jax.jit(lambda h, sh, w: message(h, idx, sh, w))(h.array, sh.array, weights)
    assert got.shape == expected.shape == (n, message.irreps_out.dim)
    np.testing.assert_allclose(got, expected, atol=2e-5 * float(np.abs(expected).max()))


def test_edge_message_needs_sorted_irreps():
    with pytest.raises(ValueError, match="sorted"):
        EdgeMessage("4x1o + 4x0e", "1o")
