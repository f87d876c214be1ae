"""Argon Lennard-Jones fluid in a periodic cubic box.

sigma 0.3405 nm, epsilon/k_B 119.8 K, mass 39.948 u; truncated (unshifted) at 3 sigma with the
analytic long-range dispersion correction. The start is disordered: uniform random positions
pushed apart by a soft repulsion until no pair is closer than 0.85 sigma (no lattice memory).
"""
from __future__ import annotations

import mdtraj
import numpy as np

from sciwm.errors import InputError
from sciwm.systems._base import LennardJones, System
from sciwm.units import BOLTZMANN_KJ_PER_MOL_K

SIGMA_NM = 0.3405
EPSILON_KJ_MOL = 119.8 * BOLTZMANN_KJ_PER_MOL_K
CUTOFF_NM = 3.0 * SIGMA_NM
DEFAULT_REDUCED_DENSITY = 0.8  # rho* = N sigma^3 / V, a liquid near the triple point


def argon_topology(n_atoms: int) -> mdtraj.Topology:
    top = mdtraj.Topology()
    chain = top.add_chain()
    argon = mdtraj.element.get_by_symbol("Ar")
    for i in range(n_atoms):
        top.add_atom("Ar", argon, top.add_residue("AR", chain, resSeq=i + 1))
    return top


def disordered_positions(n_atoms: int, box_nm: float, min_distance_nm: float, seed: int) -> np.ndarray:
    """Random positions in a cubic box, relaxed by a soft pair repulsion until the closest pair
    (minimum image) is at least min_distance_nm apart. Returns (n_atoms, 3) nm in [0, box)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, box_nm, size=(n_atoms, 3))
    for _ in range(5000):
        d = x[:, None, :] - x[None, :, :]
        d -= box_nm * np.round(d / box_nm)
        r = np.sqrt((d**2).sum(-1))
        np.fill_diagonal(r, np.inf)
        if r.min() >= min_distance_nm:
            return np.mod(x, box_nm)
        overlap = np.clip(min_distance_nm * 1.05 - r, 0.0, None)  # harmonic soft-sphere push
        x += 0.5 * (overlap[:, :, None] * d / r[:, :, None]).sum(1)
    raise InputError(f"could not place {n_atoms} atoms in a {box_nm:g} nm box: density too high")


def build(n_atoms: int = 256, box_nm: float | None = None, seed: int = 0) -> System:
    if n_atoms < 2:
        raise InputError(f"lj needs at least 2 atoms, got {n_atoms}")
    if box_nm is None:
        box_nm = SIGMA_NM * (n_atoms / DEFAULT_REDUCED_DENSITY) ** (1.0 / 3.0)
    if not box_nm > 2 * CUTOFF_NM:
        raise InputError(f"lj box {box_nm:.4g} nm must exceed twice the cutoff ({2 * CUTOFF_NM:.4g} nm): "
                         f"use more atoms or a larger --box-nm")
    positions = disordered_positions(n_atoms, box_nm, 0.85 * SIGMA_NM, seed)
    return System(
        name="lj",
        topology=argon_topology(n_atoms),
        positions=positions,
        box=np.eye(3) * box_nm,
        potential=LennardJones(SIGMA_NM, EPSILON_KJ_MOL, CUTOFF_NM),
        engines=("openmm", "ase"),
        timestep_ps=0.005,
        friction_per_ps=1.0,
        minimize=True,
        options={"box_nm": box_nm, "reduced_density": n_atoms * SIGMA_NM**3 / box_nm**3},
    )
