"""Neighbour graphs in JAX with static shapes: k nearest atoms, minimum image under a periodic
orthorhombic box; covalent neighbours from a topology; the force field's replicas-last layout.
Positions (n_atoms, 3) nm; box lengths (3,) nm."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def displacement(xi, xj, box):
    """xj - xi, minimum image when box is given (orthorhombic lengths, nm)."""
    d = xj - xi
    if box is not None:
        d = d - box * jnp.round(d / box)
    return d


def replicas_last(x, box):
    """Positions (R, n, 3) and boxes (R, 3) or None -> the force field's batched layout (n, 3, R),
    (3, R): the replicas innermost (sciwm.model.forcefield)."""
    return jnp.transpose(x, (1, 2, 0)), None if box is None else box.T


def bonded_neighbours(topology) -> dict[int, list[int]]:
    """Covalent neighbours of every bonded atom (an mdtraj Topology's bonds), sorted by index."""
    neighbours: dict[int, list[int]] = {}
    for a, b in topology.bonds:
        neighbours.setdefault(a.index, []).append(b.index)
        neighbours.setdefault(b.index, []).append(a.index)
    return {i: sorted(ns) for i, ns in neighbours.items()}


def knn_graph(x, box, k: int):
    """Neighbours of every atom: indices (n, k) of the k nearest others (minimum image), the
    vectors r_ij = x_j - x_i (n, k, 3) and lengths (n, k). k <= n - 1."""
    n = x.shape[0]
    d = displacement(x[:, None, :], x[None, :, :], box)
    r2 = jnp.sum(d**2, axis=-1) + jnp.eye(n, dtype=x.dtype) * 1e12  # exclude self
    _, idx = jax.lax.top_k(-r2, k)
    vec = jnp.take_along_axis(d, idx[..., None], axis=1)
    return idx, vec, jnp.sqrt(jnp.sum(vec**2, axis=-1))
