"""Neighbour graphs in JAX with static shapes: k nearest atoms, minimum image under a periodic
orthorhombic box. Positions (n_atoms, 3) nm; box lengths (3,) nm."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def displacement(xi, xj, box):
    """xj - xi, minimum image when box is given (orthorhombic lengths, nm)."""
    d = xj - xi
    if box is not None:
        d = d - box * jnp.round(d / box)
    return d


def knn_graph(x, box, k: int):
    """Neighbours of every atom: indices (n, k) of the k nearest others (minimum image), the
    vectors r_ij = x_j - x_i (n, k, 3) and lengths (n, k). k <= n - 1."""
    n = x.shape[0]
    d = displacement(x[:, None, :], x[None, :, :], box)
    r2 = jnp.sum(d**2, axis=-1) + jnp.eye(n, dtype=x.dtype) * 1e12  # exclude self
    _, idx = jax.lax.top_k(-r2, k)
    vec = jnp.take_along_axis(d, idx[..., None], axis=1)
    return idx, vec, jnp.sqrt(jnp.sum(vec**2, axis=-1))
