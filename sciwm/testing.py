"""Reusable symmetry checks for models (used by every model test; useful for your own models).

A velocity function here is f(x_s, x_t, box) -> (velocity (n, 3), log-volume rate), positions
in nm, box lengths (3,) or None. Molecules: E(3) (rotations with inversion, translations) and
permutations of identical atoms. Periodic cubic boxes: translations (wrapped), permutations and
the 48 symmetries of the cube (signed axis permutations).
"""
from __future__ import annotations

import itertools

import numpy as np


def random_orthogonal(rng: np.random.Generator, inversion: bool = True) -> np.ndarray:
    """A Haar-random rotation (3, 3), times -1 (an improper rotation) when inversion is True."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return -q if inversion else q


def cube_symmetries() -> list[np.ndarray]:
    """The 48 signed permutation matrices (the point group of a cube, O_h)."""
    mats = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            m = np.zeros((3, 3))
            m[range(3), perm] = signs
            mats.append(m)
    return mats


def identical_atom_permutation(species: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random permutation that only exchanges atoms of the same species."""
    perm = np.arange(len(species))
    for s in np.unique(species):
        idx = np.flatnonzero(species == s)
        perm[idx] = rng.permutation(idx)
    return perm


def assert_equivariant_molecule(f, x_s, x_t, species, rng, atol=1e-4, trials=3):
    """f(x_s, x_t, species) -> velocity: equivariant under O(3) and translations, permutation
    equivariant over identical atoms (species permuted with the atoms)."""
    v = np.asarray(f(x_s, x_t, species))
    for _ in range(trials):
        q, shift = random_orthogonal(rng), rng.normal(size=3)
        np.testing.assert_allclose(np.asarray(f(x_s @ q.T + shift, x_t @ q.T + shift, species)), v @ q.T, atol=atol,
                                   err_msg="not E(3) equivariant")
        p = identical_atom_permutation(species, rng)
        np.testing.assert_allclose(np.asarray(f(x_s[p], x_t[p], species[p])), v[p], atol=atol,
                                   err_msg="not permutation equivariant")


def assert_equivariant_periodic(f, x_s, x_t, species, box, rng, atol=1e-4, trials=3):
    """f(x_s, x_t, species, box) -> (velocity, log-volume rate) for a cubic box: velocity is
    equivariant and the volume rate invariant under wrapped translations, permutations of identical
    atoms and the 48 cube symmetries (applied about the origin, positions re-wrapped)."""
    v, dv = (np.asarray(a) for a in f(x_s, x_t, species, box))
    length = box[0]
    cube = cube_symmetries()
    for _ in range(trials):
        shift = rng.uniform(0, length, size=3)
        wrap = lambda y: np.mod(y, length)
        # same wrapping for x_t, keeping x_s - x_t (the unwrapped displacement) unchanged
        xt_new = wrap(x_t + shift)
        xs_new = xt_new + (x_s - x_t)
        out, dout = (np.asarray(a) for a in f(xs_new, xt_new, species, box))
        np.testing.assert_allclose(out, v, atol=atol, err_msg="not translation invariant (periodic)")
        np.testing.assert_allclose(dout, dv, atol=atol)
        m = cube[rng.integers(len(cube))]
        xt_new = wrap(x_t @ m.T)
        xs_new = xt_new + (x_s - x_t) @ m.T
        out, dout = (np.asarray(a) for a in f(xs_new, xt_new, species, box))
        np.testing.assert_allclose(out, v @ m.T, atol=atol, err_msg="not equivariant under cube symmetries")
        np.testing.assert_allclose(dout, dv, atol=atol)
        p = identical_atom_permutation(species, rng)
        out, _ = (np.asarray(a) for a in f(x_s[p], x_t[p], species[p], box))
        np.testing.assert_allclose(out, v[p], atol=atol, err_msg="not permutation equivariant")


def assert_equivariant_in_distribution(sample, x_t, rng, n_samples: int, z: float = 5.0):
    """sample(x_t, seed) -> (n_samples, n, 3) samples of x_{t+lag}. Rotating the input must rotate
    the distribution: compare the mean and per-atom spread of R^T-rotated samples from R x_t with
    samples from x_t (different seeds) within z standard errors."""
    q = random_orthogonal(rng)
    a = np.asarray(sample(x_t, 0))
    b = np.asarray(sample(x_t @ q.T, 1)) @ q
    se = np.sqrt(a.var(0) / n_samples + b.var(0) / n_samples) + 1e-6
    assert np.all(np.abs(a.mean(0) - b.mean(0)) < z * se), "sample means are not equivariant"
    spread_a, spread_b = a.std(0).mean(), b.std(0).mean()  # averaged over atoms and axes
    assert abs(spread_a - spread_b) < 0.1 * spread_a, "sample spreads are not equivariant"
